/* vk_internal.h -- the Vulkan runtime's own state, shared by its files
 * (vk_runtime_*.c, vk_backend.c) and by nothing else: ops use vk.h.
 *
 * The Vulkan API is reached through a function table filled at run time
 * (VK_NO_PROTOTYPES): the library never links libvulkan, so it loads on
 * machines without it and the backend reports itself unavailable. */
#ifndef DSV3_VK_INTERNAL_H
#define DSV3_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <pthread.h>
#include <vulkan/vulkan.h>

#include "dsv3.h"
#include "vk.h"

/* Every Vulkan entry point the runtime uses, loaded by name. */
#define DSV3_VK_INSTANCE_FUNCS(X)                                                                             \
    X(vkDestroyInstance)                                                                                       \
    X(vkEnumeratePhysicalDevices)                                                                              \
    X(vkGetPhysicalDeviceProperties)                                                                           \
    X(vkGetPhysicalDeviceProperties2)                                                                          \
    X(vkGetPhysicalDeviceFeatures2)                                                                            \
    X(vkGetPhysicalDeviceMemoryProperties)                                                                     \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                                                \
    X(vkCreateDevice)                                                                                          \
    X(vkGetDeviceProcAddr)
#define DSV3_VK_DEVICE_FUNCS(X)                                                                               \
    X(vkDestroyDevice)                                                                                         \
    X(vkGetDeviceQueue)                                                                                        \
    X(vkDeviceWaitIdle)                                                                                        \
    X(vkCreateCommandPool)                                                                                     \
    X(vkDestroyCommandPool)                                                                                    \
    X(vkAllocateCommandBuffers)                                                                                \
    X(vkBeginCommandBuffer)                                                                                    \
    X(vkEndCommandBuffer)                                                                                      \
    X(vkResetCommandBuffer)                                                                                    \
    X(vkQueueSubmit)                                                                                           \
    X(vkCreateFence)                                                                                           \
    X(vkDestroyFence)                                                                                          \
    X(vkWaitForFences)                                                                                         \
    X(vkResetFences)                                                                                           \
    X(vkCreateBuffer)                                                                                          \
    X(vkDestroyBuffer)                                                                                         \
    X(vkGetBufferMemoryRequirements)                                                                           \
    X(vkAllocateMemory)                                                                                        \
    X(vkFreeMemory)                                                                                            \
    X(vkBindBufferMemory)                                                                                      \
    X(vkMapMemory)                                                                                             \
    X(vkUnmapMemory)                                                                                           \
    X(vkGetBufferDeviceAddress)                                                                                \
    X(vkCreateShaderModule)                                                                                    \
    X(vkDestroyShaderModule)                                                                                   \
    X(vkCreatePipelineLayout)                                                                                  \
    X(vkDestroyPipelineLayout)                                                                                 \
    X(vkCreateComputePipelines)                                                                                \
    X(vkDestroyPipeline)                                                                                       \
    X(vkCmdBindPipeline)                                                                                       \
    X(vkCmdPushConstants)                                                                                      \
    X(vkCmdDispatch)                                                                                           \
    X(vkCmdPipelineBarrier)                                                                                    \
    X(vkCmdCopyBuffer)                                                                                         \
    X(vkCmdFillBuffer)

typedef struct dsv3_vk_fns {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    PFN_vkCreateInstance vkCreateInstance;
    PFN_vkEnumerateInstanceVersion vkEnumerateInstanceVersion;
#define DSV3_VK_DECL(f) PFN_##f f;
    DSV3_VK_INSTANCE_FUNCS(DSV3_VK_DECL)
    DSV3_VK_DEVICE_FUNCS(DSV3_VK_DECL)
#undef DSV3_VK_DECL
} dsv3_vk_fns;

/* What the process-wide probe found (once, cached: vk_runtime_loader.c). */
#define DSV3_VK_MAX_DEVICES 16
typedef struct dsv3_vk_devinfo {
    VkPhysicalDevice pd;
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    VkPhysicalDeviceType type;
    uint32_t api_version;
    char driver[VK_MAX_DRIVER_NAME_SIZE + VK_MAX_DRIVER_INFO_SIZE + 4];
    uint64_t device_local_bytes; /* largest DEVICE_LOCAL heap            */
    char missing[256];           /* required features it lacks, "" if none */
    int usable;
} dsv3_vk_devinfo;

typedef struct dsv3_vk_probe {
    int ok;                 /* loader + instance + at least one device seen */
    char why[256];          /* when !ok: the reason                          */
    VkInstance instance;    /* kept for the process's life                   */
    dsv3_vk_fns fn;         /* instance-level entry points filled            */
    int n_dev;
    dsv3_vk_devinfo dev[DSV3_VK_MAX_DEVICES];
} dsv3_vk_probe;

/* The probe result (never NULL). The first call loads and probes. */
const dsv3_vk_probe *dsv3_vk_probe_get(void);

/* One VkBuffer over one VkDeviceMemory, with a device address; mapped
 * when its memory is host-visible and coherent. */
typedef struct dsv3_vk_buf {
    VkBuffer buf;
    VkDeviceMemory mem;
    uint64_t addr;
    uint64_t size;
    void *map;
} dsv3_vk_buf;

/* An allocation inside a block: [off, off + size). */
typedef struct dsv3_vk_span {
    uint64_t off, size;
} dsv3_vk_span;

/* A block of device memory handed out by alloc(): the host addresses
 * [host, host + buf.size) are reserved (PROT_NONE) and stand for it. */
typedef struct dsv3_vk_block {
    dsv3_vk_buf b;
    char *host;
    dsv3_vk_span *spans; /* sorted by off */
    int n_spans, cap_spans;
} dsv3_vk_block;


struct dsv3_vk {
    pthread_mutex_t lock; /* recursive: ops may call vtable entries */
    dsv3_vk_fns fns;      /* the probe's, plus this device's entry points */
    const dsv3_vk_fns *fn; /* = &fns */
    const dsv3_vk_devinfo *info;
    VkPhysicalDevice pd;
    VkDevice dev;
    int dev_fns;          /* the device's entry points are all loaded */
    VkQueue queue;
    uint32_t queue_family;
    VkPhysicalDeviceMemoryProperties memprops;
    VkPhysicalDeviceProperties props;
    uint32_t subgroup_size;
    int no_map;           /* device blocks never mapped (dsv3_vk_test_staging) */
    dsv3_backend_params params;
    char placement_policy[32];

    /* recording */
    VkCommandPool pool;
    VkCommandBuffer cmds[2]; /* two, so one can run while the other records */
    VkFence fences[2];
    int in_flight[2];    /* submitted, not yet waited for             */
    int cur;             /* the one recording: cmd = cmds[cur]        */
    VkCommandBuffer cmd;
    int recording;       /* cmd is begun                              */
    int pending;         /* commands recorded since the last submit   */
    VkPipelineLayout layout;
    dsv3_vk_pipeline **pipes;
    int n_pipes, cap_pipes;

    /* memory */
    dsv3_vk_block **blocks; /* sorted by host address */
    int n_blocks, cap_blocks;
    dsv3_vk_buf *wblocks;   /* weight memory (bump allocated, freed at the end) */
    int n_wblocks, cap_wblocks;
    uint64_t wblock_used;   /* bytes used in the last weight block        */
    dsv3_vk_buf staging;    /* host-visible, for uploads and read-backs   */
    dsv3_vk_buf *ring;      /* upload ring chunks, the last one current  */
    int n_ring, cap_ring;
    uint64_t ring_used;
    void *scratch[4];
    size_t scratch_size[4];
    /* read-ahead (vk_runtime_ahead.c) */
    dsv3_vk_buf ahead;      /* host-visible target of the recorded copy   */
    const void *ahead_src;  /* the request in effect, NULL when none      */
    size_t ahead_bytes;
    uint64_t ahead_at;      /* `waits` when its copy was recorded          */
    uint64_t waits;         /* waiting submits completed without an error */
    uint64_t ahead_taken;   /* read-aheads handed to an op (tests)        */
    uint64_t syncs;         /* host waits for recorded work (tests)       */

    /* weights */
    dsv3_weight **weights;
    int n_weights, cap_weights;
    int n_placed;           /* weights[0..n_placed) went through load_done */
    dsv3_vk_weight **wdev_lists; /* one array per load_done (w->device points in) */
    int n_wdev_lists;
    uint64_t staged;        /* staging bytes in use while uploading weights */
    uint64_t role_dev[16], role_host[16];

    /* the CPU helper */
    const dsv3_backend_ops *cpu_ops;
    dsv3_backend *cpu;

    /* sticky error */
    int err_status;
    char err_msg[DSV3_ERR_MSG_SIZE];
};

/* Tests only: backends created afterwards never map device memory, so
 * host copies and weight uploads take the staging path of a discrete GPU
 * even on a device whose memory the host can see (lavapipe). */
void dsv3_vk_test_staging(int on);
/* Tests only: how MoE layers with experts on the host run, for backends
 * used afterwards: 0 normal (x read ahead, the shared expert overlapping
 * the CPU experts); 1 no read-ahead (x read back at a sync of its own, the
 * device idle while the CPU computes); 2 as 0, but the device fails (as a
 * lost one would) while the CPU computes. */
void dsv3_vk_test_overlap(int mode);
/* Tests only: read-aheads an op has used on this backend. */
uint64_t dsv3_vk_test_ahead_taken(const dsv3_vk *vk);
/* Tests only: how many times the host has waited for recorded work (a
 * flush or host copy that found work to submit or still running). */
uint64_t dsv3_vk_test_syncs(const dsv3_vk *vk);

/* Check a VkResult: on failure set the sticky error "vulkan: <what>
 * (VkResult N)" and return nonzero. */
int dsv3_vk_check(dsv3_vk *vk, VkResult r, const char *what);

/* Buffers (vk_runtime_memory.c). host_visible: request host-visible
 * coherent memory (staging, ring); otherwise the device's fastest
 * memory (mapped anyway when it is host-visible, as on integrated GPUs
 * and CPU devices). */
int dsv3_vk_buf_create(dsv3_vk *vk, uint64_t size, int host_visible, dsv3_vk_buf *b, dsv3_err *e);
void dsv3_vk_buf_destroy(dsv3_vk *vk, dsv3_vk_buf *b);
void dsv3_vk_memory_free_all(dsv3_vk *vk);
/* The block and offset of [p, p + bytes) inside one allocation; NULL (and
 * the sticky error naming `what`) when it is not. */
dsv3_vk_block *dsv3_vk_resolve(dsv3_vk *vk, const void *p, size_t bytes, uint64_t *off, const char *what);
/* Forget the read-ahead request (the work holding its copy was dropped),
 * and free its buffer (at the end; nothing may be in flight). */
void dsv3_vk_ahead_drop(dsv3_vk *vk);
void dsv3_vk_ahead_free(dsv3_vk *vk);
/* Begin recording if needed; 0 on success. */
int dsv3_vk_begin(dsv3_vk *vk);
/* Record the compute/transfer -> compute/transfer barrier. */
void dsv3_vk_barrier(dsv3_vk *vk);
/* Submit and wait; reset_ring: also recycle the upload ring. */
int dsv3_vk_submit(dsv3_vk *vk, int reset_ring);
void dsv3_vk_commands_free(dsv3_vk *vk);
int dsv3_vk_commands_init(dsv3_vk *vk, dsv3_err *e);
void dsv3_vk_ring_free(dsv3_vk *vk);
/* After a completed submit: keep only the newest (largest) ring chunk. */
void dsv3_vk_ring_reset(dsv3_vk *vk);
/* The vtable's host copies: between ops, so they also recycle the ring. */
void dsv3_vk_to_host_vt(dsv3_vk *vk, void *dst, const void *src, size_t bytes);
void dsv3_vk_from_host_vt(dsv3_vk *vk, void *dst, const void *src, size_t bytes);
/* Weights (vk_runtime_weights.c). */
int dsv3_vk_weights_record(dsv3_vk *vk, dsv3_weight *w, dsv3_err *e);
int dsv3_vk_weights_load(dsv3_vk *vk, dsv3_err *e);
int dsv3_vk_weights_placement(dsv3_vk *vk, char *buf, size_t size);
void dsv3_vk_weights_free(dsv3_vk *vk);
/* Lifetime (vk_runtime_device.c). */
int dsv3_vk_init(const dsv3_backend_params *p, dsv3_backend **out, dsv3_err *e);
void dsv3_vk_free(dsv3_backend *be);
int dsv3_vk_take_status(dsv3_vk *vk, dsv3_err *e);
int dsv3_vk_describe(char *buf, size_t size);
int dsv3_vk_available(void);
int dsv3_vk_auto_ok(void);

#endif
