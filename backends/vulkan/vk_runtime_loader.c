/* vk_runtime_loader.c -- finding Vulkan at run time: open the loader
 * (dlopen, so the library has no link-time dependency on it), create an
 * instance, look at every device once per process, and say what was found
 * (describe) and whether "auto" may pick it (a real GPU only). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vk_internal.h"

static dsv3_vk_probe probe;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void add_missing(dsv3_vk_devinfo *d, const char *what) {
    size_t len = strlen(d->missing);
    snprintf(d->missing + len, sizeof d->missing - len, "%s%s", len ? ", " : "", what);
}

static const char *type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU device";
    default: return "other device";
    }
}

/* What the backend needs of a device (see vk-common requirements): Vulkan
 * 1.2, buffer device addresses, 8/16-bit storage, 64-bit integers and
 * subgroup arithmetic in compute shaders. */
static void inspect(const dsv3_vk_fns *fn, VkPhysicalDevice pd, dsv3_vk_devinfo *d) {
    VkPhysicalDeviceProperties props;
    fn->vkGetPhysicalDeviceProperties(pd, &props);
    d->pd = pd;
    snprintf(d->name, sizeof d->name, "%s", props.deviceName);
    d->type = props.deviceType;
    d->api_version = props.apiVersion;
    snprintf(d->driver, sizeof d->driver, "unknown driver");

    VkPhysicalDeviceMemoryProperties mem;
    fn->vkGetPhysicalDeviceMemoryProperties(pd, &mem);
    for (uint32_t i = 0; i < mem.memoryHeapCount; i++)
        if ((mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && mem.memoryHeaps[i].size > d->device_local_bytes)
            d->device_local_bytes = mem.memoryHeaps[i].size;

    if (props.apiVersion < VK_API_VERSION_1_2) {
        add_missing(d, "Vulkan 1.2");
        return; /* the 1.2 feature structs cannot be queried */
    }
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
                                              .pNext = &drv};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
    fn->vkGetPhysicalDeviceProperties2(pd, &p2);
    snprintf(d->driver, sizeof d->driver, "%s (%s)", drv.driverName, drv.driverInfo);

    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                            .pNext = &f12};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    fn->vkGetPhysicalDeviceFeatures2(pd, &f2);
    if (!f12.bufferDeviceAddress) add_missing(d, "bufferDeviceAddress");
    if (!f11.storageBuffer16BitAccess) add_missing(d, "storageBuffer16BitAccess");
    if (!f12.storageBuffer8BitAccess) add_missing(d, "storageBuffer8BitAccess");
    if (!f2.features.shaderInt64) add_missing(d, "shaderInt64");
    if (!(sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT)) add_missing(d, "subgroups in compute shaders");
    VkSubgroupFeatureFlags ops = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    if ((sub.supportedOperations & ops) != ops) add_missing(d, "subgroup basic+arithmetic operations");
    d->usable = d->missing[0] == 0;
}

static void run_probe(void) {
    dsv3_vk_probe *P = &probe;
    void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(P->why, sizeof P->why, "cannot load the Vulkan loader (libvulkan.so.1): not installed");
        return;
    }
    /* The one symbol taken from the library; everything else through it.
     * (POSIX guarantees a dlsym result converts to a function pointer.) */
    void *sym = dlsym(lib, "vkGetInstanceProcAddr");
    if (!sym) {
        snprintf(P->why, sizeof P->why, "libvulkan.so.1 has no vkGetInstanceProcAddr");
        return;
    }
    dsv3_vk_fns *fn = &P->fn;
    fn->vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)sym;
    fn->vkCreateInstance = (PFN_vkCreateInstance)fn->vkGetInstanceProcAddr(NULL, "vkCreateInstance");
    fn->vkEnumerateInstanceVersion =
        (PFN_vkEnumerateInstanceVersion)fn->vkGetInstanceProcAddr(NULL, "vkEnumerateInstanceVersion");
    uint32_t iv = VK_API_VERSION_1_0;
    if (fn->vkEnumerateInstanceVersion) fn->vkEnumerateInstanceVersion(&iv);
    if (!fn->vkCreateInstance || iv < VK_API_VERSION_1_2) {
        snprintf(P->why, sizeof P->why, "the Vulkan loader is version %u.%u; 1.2 or later is needed",
                 VK_API_VERSION_MAJOR(iv), VK_API_VERSION_MINOR(iv));
        return;
    }
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "dsv3",
                             .pEngineName = "dsv3",
                             .apiVersion = VK_API_VERSION_1_2};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    VkResult r = fn->vkCreateInstance(&ici, NULL, &P->instance);
    if (r != VK_SUCCESS) {
        snprintf(P->why, sizeof P->why, "%s (vkCreateInstance: VkResult %d)",
                 r == VK_ERROR_INCOMPATIBLE_DRIVER ? "no Vulkan driver (ICD) is installed or enabled"
                                                  : "cannot create a Vulkan instance",
                 (int)r);
        P->instance = VK_NULL_HANDLE;
        return;
    }
    int missing_fn = 0;
#define DSV3_VK_LOAD(f)                                                                                         \
    fn->f = (PFN_##f)fn->vkGetInstanceProcAddr(P->instance, #f);                                               \
    if (!fn->f) missing_fn = 1;
    DSV3_VK_INSTANCE_FUNCS(DSV3_VK_LOAD)
#undef DSV3_VK_LOAD
    if (missing_fn) {
        snprintf(P->why, sizeof P->why, "the Vulkan loader lacks Vulkan 1.2 instance functions");
        return;
    }
    VkPhysicalDevice pds[DSV3_VK_MAX_DEVICES];
    uint32_t n = DSV3_VK_MAX_DEVICES;
    r = fn->vkEnumeratePhysicalDevices(P->instance, &n, pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        snprintf(P->why, sizeof P->why, "cannot list Vulkan devices (VkResult %d)", (int)r);
        return;
    }
    if (n == 0) {
        snprintf(P->why, sizeof P->why, "no Vulkan device found (the driver sees no device)");
        return;
    }
    P->n_dev = (int)n;
    for (int i = 0; i < P->n_dev; i++) inspect(fn, pds[i], &P->dev[i]);
    P->ok = 1;
    int usable = 0;
    for (int i = 0; i < P->n_dev; i++) usable |= P->dev[i].usable;
    if (!usable) snprintf(P->why, sizeof P->why, "no Vulkan device has the required features");
}

const dsv3_vk_probe *dsv3_vk_probe_get(void) {
    pthread_once(&probe_once, run_probe);
    return &probe;
}

int dsv3_vk_available(void) {
    const dsv3_vk_probe *P = dsv3_vk_probe_get();
    if (!P->ok) return 0;
    for (int i = 0; i < P->n_dev; i++)
        if (P->dev[i].usable) return 1;
    return 0;
}

/* "auto" takes a real GPU only: a CPU device (lavapipe, SwiftShader)
 * computes slower than the CPU backends themselves. */
int dsv3_vk_auto_ok(void) {
    const dsv3_vk_probe *P = dsv3_vk_probe_get();
    for (int i = 0; P->ok && i < P->n_dev; i++)
        if (P->dev[i].usable && (P->dev[i].type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ||
                                 P->dev[i].type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU))
            return 1;
    return 0;
}

/* Append to buf like snprintf, tracking the full length. */
static void put(char *buf, size_t size, size_t *len, const char *fmt, ...) DSV3_PRINTF(4, 5);
static void put(char *buf, size_t size, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k >= sizeof tmp) k = (int)sizeof tmp - 1;
    if (buf && *len + 1 < size) {
        size_t room = size - *len - 1;
        size_t c = (size_t)k < room ? (size_t)k : room;
        memcpy(buf + *len, tmp, c);
        buf[*len + c] = 0;
    }
    *len += (size_t)k;
}

int dsv3_vk_describe(char *buf, size_t size) {
    const dsv3_vk_probe *P = dsv3_vk_probe_get();
    size_t len = 0;
    if (buf && size) buf[0] = 0;
    if (!P->ok) {
        put(buf, size, &len, "unavailable: %s", P->why);
        return (int)len;
    }
    int usable = dsv3_vk_available();
    if (usable)
        put(buf, size, &len, "available, %d device%s (\"auto\" %s)", P->n_dev, P->n_dev == 1 ? "" : "s",
            dsv3_vk_auto_ok() ? "picks it" : "does not pick it: no GPU, name it with --backend vulkan");
    else
        put(buf, size, &len, "unavailable: %s", P->why);
    for (int i = 0; i < P->n_dev; i++) {
        const dsv3_vk_devinfo *d = &P->dev[i];
        put(buf, size, &len, "\n  vulkan:%d %s, %s, driver %s, Vulkan %u.%u.%u, %.1f GiB device-local", i, d->name,
            type_name(d->type), d->driver, VK_API_VERSION_MAJOR(d->api_version), VK_API_VERSION_MINOR(d->api_version),
            VK_API_VERSION_PATCH(d->api_version), (double)d->device_local_bytes / (1024.0 * 1024 * 1024));
        if (d->usable)
            put(buf, size, &len, "; all required features");
        else
            put(buf, size, &len, "; missing: %s", d->missing);
    }
    return (int)len;
}
