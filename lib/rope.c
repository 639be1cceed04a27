/* rope.c -- YaRN RoPE frequencies and scales, exactly as the DeepSeek
 * reference defines them (adjacent-pair rotation is done by the backend). */
#include <math.h>

#include "model.h"

static double yarn_get_mscale(double scale, double mscale) {
    return scale <= 1.0 ? 1.0 : 0.1 * mscale * log(scale) + 1.0;
}

/* The rotation index at which a frequency completes `n_rot` turns over the
 * original context. */
static double yarn_corr_dim(double n_rot, int dim, double base, int orig) {
    return dim * log(orig / (n_rot * 2.0 * M_PI)) / (2.0 * log(base));
}

void rope_inv_freq(const dsv3_config *c, double *inv_freq) {
    const int d = c->qk_rope_head_dim;
    for (int i = 0; i < d / 2; i++) inv_freq[i] = pow(c->rope_theta, -2.0 * i / d);
    if (!c->has_yarn) return;
    double lo = floor(yarn_corr_dim(c->yarn_beta_fast, d, c->rope_theta, c->yarn_original_max_pos));
    double hi = ceil(yarn_corr_dim(c->yarn_beta_slow, d, c->rope_theta, c->yarn_original_max_pos));
    if (lo < 0) lo = 0;
    if (hi > d - 1) hi = d - 1;
    if (lo == hi) hi += 0.001;
    for (int i = 0; i < d / 2; i++) {
        double ramp = (i - lo) / (hi - lo);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        /* ramp 0: high frequency, kept (extrapolation); 1: interpolated */
        inv_freq[i] = inv_freq[i] / c->yarn_factor * ramp + inv_freq[i] * (1.0 - ramp);
    }
}

double rope_mscale(const dsv3_config *c) {
    if (!c->has_yarn) return 1.0;
    return yarn_get_mscale(c->yarn_factor, c->yarn_mscale) / yarn_get_mscale(c->yarn_factor, c->yarn_mscale_all_dim);
}

double attn_softmax_scale(const dsv3_config *c) {
    double s = 1.0 / sqrt((double)(c->qk_nope_head_dim + c->qk_rope_head_dim));
    if (c->has_yarn && c->yarn_mscale_all_dim != 0.0) {
        double m = yarn_get_mscale(c->yarn_factor, c->yarn_mscale_all_dim);
        s *= m * m;
    }
    return s;
}
