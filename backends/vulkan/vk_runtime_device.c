/* vk_runtime_device.c -- the backend's lifetime: open the chosen device
 * with one compute queue and the features the shaders use, start the CPU
 * helper backend (for weights left on the host), and keep the sticky
 * error that ops report through ops->status. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

extern const dsv3_backend_ops dsv3_backend_vulkan;

static int test_staging;
void dsv3_vk_test_staging(int on) { test_staging = on; }

void dsv3_vk_fail(dsv3_vk *vk, int status, const char *fmt, ...) {
    if (!vk || vk->err_status) return; /* the first failure wins */
    static const char prefix[] = "vulkan: ";
    memcpy(vk->err_msg, prefix, sizeof prefix);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vk->err_msg + sizeof prefix - 1, sizeof vk->err_msg - (sizeof prefix - 1), fmt, ap);
    va_end(ap);
    vk->err_status = status ? status : DSV3_ERR_BACKEND;
}

int dsv3_vk_failed(const dsv3_vk *vk) { return vk ? vk->err_status : DSV3_ERR_BACKEND; }

int dsv3_vk_check(dsv3_vk *vk, VkResult r, const char *what) {
    if (r == VK_SUCCESS) return 0;
    int st = r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? DSV3_ERR_NO_MEMORY
                                                                                  : DSV3_ERR_BACKEND;
    dsv3_vk_fail(vk, st, "%s failed (VkResult %d%s)", what, (int)r,
                 r == VK_ERROR_DEVICE_LOST            ? ": device lost"
                 : r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? ": out of device memory"
                 : r == VK_ERROR_OUT_OF_HOST_MEMORY   ? ": out of host memory"
                                                      : "");
    return 1;
}

int dsv3_vk_take_status(dsv3_vk *vk, dsv3_err *e) {
    int st = vk->err_status;
    if (st) err_set(e, st, "%s", vk->err_msg);
    /* What was recorded after the failure belongs to a failed step, and
     * may use memory released since: it is dropped, never submitted. */
    if (st && vk->recording) {
        (void)vk->fn->vkResetCommandBuffer(vk->cmd, 0); /* a failed reset only matters to the next begin */
        vk->recording = 0;
        vk->pending = 0;
    }
    if (st) dsv3_vk_ahead_drop(vk); /* its copy may have been dropped above */
    vk->err_status = 0;
    vk->err_msg[0] = 0;
    return st;
}

const dsv3_backend_ops *dsv3_vk_cpu_ops(dsv3_vk *vk) { return vk->cpu_ops; }
dsv3_backend *dsv3_vk_cpu(dsv3_vk *vk) { return vk->cpu; }
int dsv3_vk_cpu_threads(const dsv3_vk *vk) { return vk->params.n_threads; }
uint32_t dsv3_vk_subgroup_size(const dsv3_vk *vk) { return vk->subgroup_size; }
size_t dsv3_vk_shared_memory(const dsv3_vk *vk) { return vk->props.limits.maxComputeSharedMemorySize; }

void *dsv3_vk_host_scratch(dsv3_vk *vk, int slot, size_t bytes) {
    if (slot < 0 || slot > 3) {
        dsv3_vk_fail(vk, DSV3_ERR_BACKEND, "host scratch slot %d out of range", slot);
        return NULL;
    }
    if (bytes > vk->scratch_size[slot]) {
        void *p = realloc(vk->scratch[slot], bytes);
        if (!p) {
            dsv3_vk_fail(vk, DSV3_ERR_NO_MEMORY, "out of host memory for %zu bytes of scratch", bytes);
            return NULL;
        }
        vk->scratch[slot] = p;
        vk->scratch_size[slot] = bytes;
    }
    return vk->scratch[slot];
}

/* The CPU backend "auto" would pick if this one did not exist. */
static const dsv3_backend_ops *best_cpu(void) {
    const dsv3_backend_ops *best = NULL;
    for (int i = 0; i < dsv3_backend_count(); i++) {
        const dsv3_backend_ops *b = dsv3_backend_at(i);
        if (b == &dsv3_backend_vulkan || !b->available()) continue;
        if (!best || b->priority > best->priority) best = b;
    }
    return best;
}

static int open_device(dsv3_vk *vk, dsv3_err *e) {
    const dsv3_vk_fns *fn = vk->fn;
    uint32_t nq = 0;
    fn->vkGetPhysicalDeviceQueueFamilyProperties(vk->pd, &nq, NULL);
    VkQueueFamilyProperties qf[32];
    if (nq > 32) nq = 32;
    fn->vkGetPhysicalDeviceQueueFamilyProperties(vk->pd, &nq, qf);
    uint32_t family = UINT32_MAX;
    for (uint32_t i = 0; i < nq && family == UINT32_MAX; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) family = i;
    if (family == UINT32_MAX)
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: device '%s' has no compute queue", vk->info->name);
    vk->queue_family = family;

    /* Required features (checked by the probe) plus the optional ones the
     * shaders may use when present. */
    VkPhysicalDeviceVulkan12Features s12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features s11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                            .pNext = &s12};
    VkPhysicalDeviceFeatures2 sf = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s11};
    fn->vkGetPhysicalDeviceFeatures2(vk->pd, &sf);
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    f12.bufferDeviceAddress = VK_TRUE;
    f12.storageBuffer8BitAccess = VK_TRUE;
    f12.uniformAndStorageBuffer8BitAccess = s12.uniformAndStorageBuffer8BitAccess;
    f12.shaderInt8 = s12.shaderInt8;
    f12.shaderFloat16 = s12.shaderFloat16;
    f12.scalarBlockLayout = s12.scalarBlockLayout;
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                            .pNext = &f12};
    f11.storageBuffer16BitAccess = VK_TRUE;
    f11.uniformAndStorageBuffer16BitAccess = s11.uniformAndStorageBuffer16BitAccess;
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    f2.features.shaderInt64 = VK_TRUE;
    f2.features.shaderInt16 = sf.features.shaderInt16;

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = family,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .pNext = &f2,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci};
    VkResult r = fn->vkCreateDevice(vk->pd, &dci, NULL, &vk->dev);
    if (r != VK_SUCCESS) {
        vk->dev = VK_NULL_HANDLE;
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: cannot open device '%s' (vkCreateDevice: VkResult %d)",
                       vk->info->name, (int)r);
    }
    int missing = 0;
#define DSV3_VK_LOAD(f)                                                                                         \
    vk->fns.f = (PFN_##f)fn->vkGetDeviceProcAddr(vk->dev, #f);                                                 \
    if (!vk->fns.f) missing = 1;
    DSV3_VK_DEVICE_FUNCS(DSV3_VK_LOAD)
#undef DSV3_VK_LOAD
    if (missing) {
        /* Without its entry points the device cannot even be destroyed
         * (it lives until the process ends). */
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: device '%s' lacks Vulkan 1.2 functions", vk->info->name);
    }
    vk->dev_fns = 1;
    fn->vkGetDeviceQueue(vk->dev, family, 0, &vk->queue);

    VkPhysicalDeviceVulkan11Properties p11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &p11};
    fn->vkGetPhysicalDeviceProperties2(vk->pd, &p2);
    vk->props = p2.properties;
    vk->subgroup_size = p11.subgroupSize ? p11.subgroupSize : 1;
    fn->vkGetPhysicalDeviceMemoryProperties(vk->pd, &vk->memprops);
    return DSV3_OK;
}

int dsv3_vk_init(const dsv3_backend_params *p, dsv3_backend **out, dsv3_err *e) {
    const dsv3_vk_probe *P = dsv3_vk_probe_get();
    char why[512];
    if (!dsv3_vk_available()) {
        dsv3_vk_describe(why, sizeof why);
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: %s", why);
    }
    int index = p ? p->device : 0;
    if (index < 0 || index >= P->n_dev)
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: no device vulkan:%d (this machine has %d: vulkan:0..%d)", index,
                       P->n_dev, P->n_dev - 1);
    if (!P->dev[index].usable)
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: device vulkan:%d (%s) lacks %s", index, P->dev[index].name,
                       P->dev[index].missing);
    const dsv3_backend_ops *cpu = best_cpu();
    if (!cpu) return err_set(e, DSV3_ERR_BACKEND, "vulkan: no CPU backend for the weights kept on the host");

    dsv3_vk *vk = calloc(1, sizeof *vk);
    if (!vk) return err_set(e, DSV3_ERR_NO_MEMORY, "vulkan: out of memory");
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    int mrc = pthread_mutex_init(&vk->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    if (mrc) {
        free(vk);
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: cannot create a mutex");
    }
    vk->fns = P->fn;
    vk->fn = &vk->fns;
    vk->info = &P->dev[index];
    vk->pd = P->dev[index].pd;
    vk->no_map = test_staging;
    if (p) vk->params = *p;
    /* The placement string is the caller's; keep a copy. */
    snprintf(vk->placement_policy, sizeof vk->placement_policy, "%s", p && p->placement ? p->placement : "auto");
    vk->params.placement = vk->placement_policy;
    vk->params.n_threads = p && p->n_threads > 0 ? p->n_threads : 1;

    int rc = open_device(vk, e);
    if (!rc) rc = dsv3_vk_commands_init(vk, e);
    if (!rc) {
        dsv3_backend_params cp = {.n_threads = vk->params.n_threads, .repack = vk->params.repack};
        rc = cpu->init(&cp, &vk->cpu, e);
        if (!rc) vk->cpu_ops = cpu;
    }
    if (rc) {
        dsv3_vk_free((dsv3_backend *)vk);
        return rc;
    }
    *out = (dsv3_backend *)vk;
    return DSV3_OK;
}

void dsv3_vk_free(dsv3_backend *be) {
    dsv3_vk *vk = (dsv3_vk *)be;
    if (!vk) return;
    if (vk->dev && vk->dev_fns) {
        (void)vk->fn->vkDeviceWaitIdle(vk->dev); /* nothing to do on failure: everything goes */
        dsv3_vk_commands_free(vk);
        dsv3_vk_memory_free_all(vk);
        vk->fn->vkDestroyDevice(vk->dev, NULL);
    }
    dsv3_vk_weights_free(vk);
    if (vk->cpu) vk->cpu_ops->free(vk->cpu);
    for (int i = 0; i < 4; i++) free(vk->scratch[i]);
    pthread_mutex_destroy(&vk->lock);
    free(vk);
}
