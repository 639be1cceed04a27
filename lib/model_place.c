/* model_place.c -- where a loaded model's weights live: the device
 * backend's placement step after binding, the byte counts of
 * dsv3_model_info, and dsv3_model_placement's text. */
#include <stdio.h>
#include <string.h>

#include "model.h"

/* A loader shares one bound weight between two views by copying the
 * struct (the MTP layer's head and embedding when the checkpoint has no
 * copies of its own, an output head tied to the embedding). The copies
 * were made before placement set w->device (and before a CPU backend's
 * repack set w->packed), so they are refreshed from the weight that went
 * through the backend; otherwise they would run on the host (unpacked). */
static void refresh_alias(dsv3_weight *copy, const dsv3_weight *bound) {
    if (copy->data && copy->data == bound->data && copy->type == bound->type) *copy = *bound;
}

int dsv3_model_place(dsv3_model *m, dsv3_err *e) {
    if (m->has_device) {
        int rc = m->ops->load_done(m->be, e);
        if (rc) {
            if (!e->msg[0]) err_set(e, rc, "backend '%s': placing the weights failed", m->ops->name);
            return rc;
        }
    }
    if (m->has_device || m->bp.repack) {
        refresh_alias(&m->lm_head, &m->embed);
        for (int il = m->cfg.n_layers; il < m->cfg.n_layers + m->cfg.n_mtp_layers; il++) {
            layer_weights *L = &m->layers[il];
            refresh_alias(&L->head, &m->lm_head);
            refresh_alias(&L->embed, &m->embed);
        }
    }
    m->device_bytes = m->host_bytes = 0;
    for (int i = 0; i < m->n_weights; i++) {
        const dsv3_weight *w = m->weights[i];
        uint64_t b = dsv3_model_weight_bytes(w);
        /* CPU backends may keep a repacked copy in w->device: still host memory */
        if (m->has_device && w->device) m->device_bytes += b;
        else m->host_bytes += b;
    }
    return DSV3_OK;
}

/* snprintf's result as a status: the text fit, or it was cut. */
static int fit(int len, size_t size) {
    if (len < 0) return DSV3_ERR_INVALID_ARG;
    return (size_t)len < size ? DSV3_OK : DSV3_ERR_TOO_SMALL;
}

int dsv3_model_placement(const dsv3_model *m, char *buf, size_t size) {
    if (!m || !buf || !size) return DSV3_ERR_INVALID_ARG;
    buf[0] = 0;
    if (!m->has_device)
        return fit(snprintf(buf, size, "%s: all %llu bytes of weights in host memory (a CPU backend)\n",
                            m->ops->name, (unsigned long long)m->host_bytes),
                   size);
    if (m->ops->placement) return fit(m->ops->placement(m->be, buf, size), size);
    const char *dev = m->ops->device_name ? m->ops->device_name(m->be) : NULL;
    return fit(snprintf(buf, size, "%s (%s, placement %s): %llu bytes of weights on the device, %llu in host memory\n",
                        m->ops->name, dev ? dev : "device", m->placement, (unsigned long long)m->device_bytes,
                        (unsigned long long)m->host_bytes),
               size);
}
