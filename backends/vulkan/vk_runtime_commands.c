/* vk_runtime_commands.c -- recording and submitting work: one command
 * buffer that ops append dispatches and copies to (each followed by a
 * barrier, so every op sees the previous one's results), submitted and
 * waited for when the host needs the results; and the compute pipelines,
 * created from the embedded SPIR-V on first use. Shaders take only push
 * constants (device addresses and sizes): one pipeline layout for all. */
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

/* Above this many recorded dispatches the work is submitted without
 * waiting for a host read, bounding a command buffer's size. */
#define MAX_PENDING 4096
#define PUSH_BYTES 128

struct dsv3_vk_pipeline {
    const uint32_t *spirv;
    uint32_t local_x, spec1;
    VkPipeline pipe;
};

int dsv3_vk_commands_init(dsv3_vk *vk, dsv3_err *e) {
    const dsv3_vk_fns *fn = vk->fn;
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = vk->queue_family};
    VkResult r = fn->vkCreateCommandPool(vk->dev, &pci, NULL, &vk->pool);
    if (r != VK_SUCCESS) {
        vk->pool = VK_NULL_HANDLE;
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: vkCreateCommandPool failed (VkResult %d)", (int)r);
    }
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = vk->pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 2};
    r = fn->vkAllocateCommandBuffers(vk->dev, &cai, vk->cmds);
    if (r != VK_SUCCESS)
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: vkAllocateCommandBuffers failed (VkResult %d)", (int)r);
    vk->cmd = vk->cmds[0];
    for (int i = 0; i < 2; i++) {
        VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        r = fn->vkCreateFence(vk->dev, &fci, NULL, &vk->fences[i]);
        if (r != VK_SUCCESS) {
            vk->fences[i] = VK_NULL_HANDLE;
            return err_set(e, DSV3_ERR_BACKEND, "vulkan: vkCreateFence failed (VkResult %d)", (int)r);
        }
    }
    VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = PUSH_BYTES};
    VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                      .pushConstantRangeCount = 1,
                                      .pPushConstantRanges = &range};
    r = fn->vkCreatePipelineLayout(vk->dev, &lci, NULL, &vk->layout);
    if (r != VK_SUCCESS) {
        vk->layout = VK_NULL_HANDLE;
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: vkCreatePipelineLayout failed (VkResult %d)", (int)r);
    }
    return DSV3_OK;
}

void dsv3_vk_commands_free(dsv3_vk *vk) {
    const dsv3_vk_fns *fn = vk->fn;
    for (int i = 0; i < vk->n_pipes; i++) {
        fn->vkDestroyPipeline(vk->dev, vk->pipes[i]->pipe, NULL);
        free(vk->pipes[i]);
    }
    free(vk->pipes);
    vk->pipes = NULL;
    vk->n_pipes = 0;
    if (vk->layout) fn->vkDestroyPipelineLayout(vk->dev, vk->layout, NULL);
    for (int i = 0; i < 2; i++) {
        if (vk->fences[i]) fn->vkDestroyFence(vk->dev, vk->fences[i], NULL);
        vk->fences[i] = VK_NULL_HANDLE;
    }
    if (vk->pool) fn->vkDestroyCommandPool(vk->dev, vk->pool, NULL); /* frees the command buffers too */
    vk->layout = VK_NULL_HANDLE;
    vk->pool = VK_NULL_HANDLE;
}

/* Wait for command buffer i if it was submitted, and make it reusable. */
static int wait_one(dsv3_vk *vk, int i) {
    if (!vk->in_flight[i]) return 0;
    const dsv3_vk_fns *fn = vk->fn;
    VkResult r;
    do r = fn->vkWaitForFences(vk->dev, 1, &vk->fences[i], VK_TRUE, UINT64_MAX);
    while (r == VK_TIMEOUT);
    vk->in_flight[i] = 0; /* done, or never will be (device lost) */
    if (dsv3_vk_check(vk, r, "vkWaitForFences")) return vk->err_status;
    if (dsv3_vk_check(vk, fn->vkResetFences(vk->dev, 1, &vk->fences[i]), "vkResetFences")) return vk->err_status;
    if (dsv3_vk_check(vk, fn->vkResetCommandBuffer(vk->cmds[i], 0), "vkResetCommandBuffer")) return vk->err_status;
    return 0;
}

int dsv3_vk_begin(dsv3_vk *vk) {
    if (vk->err_status) return vk->err_status;
    if (vk->recording) return 0;
    if (wait_one(vk, vk->cur)) return vk->err_status; /* still running from an earlier submit */
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if (dsv3_vk_check(vk, vk->fn->vkBeginCommandBuffer(vk->cmd, &bi), "vkBeginCommandBuffer")) return vk->err_status;
    vk->recording = 1;
    return 0;
}

static void barrier(dsv3_vk *vk, VkPipelineStageFlags dst_stage, VkAccessFlags dst_access) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = dst_access};
    vk->fn->vkCmdPipelineBarrier(vk->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                                 dst_stage, 0, 1, &mb, 0, NULL, 0, NULL);
}

void dsv3_vk_barrier(dsv3_vk *vk) {
    barrier(vk, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                VK_ACCESS_TRANSFER_WRITE_BIT);
    vk->pending++;
}

/* End and submit the recording command buffer, if it holds work. The
 * last barrier before it ends also makes the device's writes visible to
 * the host after the fence. */
static int submit_current(dsv3_vk *vk) {
    if (!vk->recording || !vk->pending) return 0;
    const dsv3_vk_fns *fn = vk->fn;
    barrier(vk, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    vk->recording = 0;
    vk->pending = 0;
    if (dsv3_vk_check(vk, fn->vkEndCommandBuffer(vk->cmd), "vkEndCommandBuffer")) return vk->err_status;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &vk->cmd};
    if (dsv3_vk_check(vk, fn->vkQueueSubmit(vk->queue, 1, &si, vk->fences[vk->cur]), "vkQueueSubmit"))
        return vk->err_status;
    vk->in_flight[vk->cur] = 1;
    return 0;
}

int dsv3_vk_submit(dsv3_vk *vk, int reset_ring) {
    if (vk->in_flight[0] || vk->in_flight[1] || (vk->recording && vk->pending)) vk->syncs++;
    if (!vk->err_status) submit_current(vk);
    /* Even after a failure nothing may still run once this returns:
     * callers free memory next. */
    wait_one(vk, 0);
    wait_one(vk, 1);
    if (vk->err_status) return vk->err_status;
    vk->waits++; /* everything recorded so far is done: a read-ahead's copy too */
    if (reset_ring) dsv3_vk_ring_reset(vk);
    return 0;
}

/* Later submissions on the one queue are ordered after this one, and its
 * last barrier covers the commands that follow in submission order. */
int dsv3_vk_submit_nowait(dsv3_vk *vk) {
    if (vk->err_status) return vk->err_status;
    if (!vk->recording || !vk->pending) return 0;
    if (submit_current(vk)) return vk->err_status;
    vk->cur ^= 1;
    vk->cmd = vk->cmds[vk->cur];
    return 0;
}

int dsv3_vk_flush(dsv3_vk *vk) { return dsv3_vk_submit(vk, 1); }

uint64_t dsv3_vk_test_syncs(const dsv3_vk *vk) { return vk->syncs; }

dsv3_vk_pipeline *dsv3_vk_pipeline_get(dsv3_vk *vk, const uint32_t *spirv, size_t spirv_bytes, uint32_t local_x,
                                       uint32_t spec1) {
    if (vk->err_status) return NULL;
    for (int i = 0; i < vk->n_pipes; i++)
        if (vk->pipes[i]->spirv == spirv && vk->pipes[i]->local_x == local_x && vk->pipes[i]->spec1 == spec1)
            return vk->pipes[i];
    if (!spirv || !spirv_bytes || spirv_bytes % 4 || !local_x) {
        dsv3_vk_fail(vk, DSV3_ERR_BACKEND, "pipeline: bad SPIR-V (%zu bytes) or workgroup size %u", spirv_bytes,
                     local_x);
        return NULL;
    }
    if (vk->n_pipes == vk->cap_pipes) {
        int cap = vk->cap_pipes ? 2 * vk->cap_pipes : 32;
        dsv3_vk_pipeline **np = realloc(vk->pipes, (size_t)cap * sizeof *np);
        if (!np) {
            dsv3_vk_fail(vk, DSV3_ERR_NO_MEMORY, "out of host memory (pipelines)");
            return NULL;
        }
        vk->pipes = np;
        vk->cap_pipes = cap;
    }
    dsv3_vk_pipeline *pl = calloc(1, sizeof *pl);
    if (!pl) {
        dsv3_vk_fail(vk, DSV3_ERR_NO_MEMORY, "out of host memory (pipelines)");
        return NULL;
    }
    const dsv3_vk_fns *fn = vk->fn;
    VkShaderModuleCreateInfo mci = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = spirv_bytes, .pCode = spirv};
    VkShaderModule mod;
    if (dsv3_vk_check(vk, fn->vkCreateShaderModule(vk->dev, &mci, NULL, &mod), "vkCreateShaderModule")) {
        free(pl);
        return NULL;
    }
    /* Constant 0 is the workgroup's x size, 1 the op's own (ids a shader
     * does not declare are ignored). */
    uint32_t spec[2] = {local_x, spec1};
    VkSpecializationMapEntry map[2] = {{0, 0, 4}, {1, 4, 4}};
    VkSpecializationInfo si = {.mapEntryCount = 2, .pMapEntries = map, .dataSize = sizeof spec, .pData = spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = mod,
                  .pName = "main",
                  .pSpecializationInfo = &si},
        .layout = vk->layout};
    VkResult r = fn->vkCreateComputePipelines(vk->dev, VK_NULL_HANDLE, 1, &ci, NULL, &pl->pipe);
    fn->vkDestroyShaderModule(vk->dev, mod, NULL);
    if (dsv3_vk_check(vk, r, "vkCreateComputePipelines")) {
        free(pl);
        return NULL;
    }
    pl->spirv = spirv;
    pl->local_x = local_x;
    pl->spec1 = spec1;
    vk->pipes[vk->n_pipes++] = pl;
    return pl;
}

void dsv3_vk_dispatch(dsv3_vk *vk, dsv3_vk_pipeline *p, const void *pc, size_t pc_bytes, uint32_t groups_x,
                      uint32_t groups_y, uint32_t groups_z) {
    if (vk->err_status || !p) return;
    if (!groups_x || !groups_y || !groups_z) return;
    if (pc_bytes > PUSH_BYTES || pc_bytes % 4) {
        dsv3_vk_fail(vk, DSV3_ERR_BACKEND, "dispatch: %zu bytes of push constants (at most %d, a multiple of 4)",
                     pc_bytes, PUSH_BYTES);
        return;
    }
    /* More groups than the device takes in x: fold them into y (shaders
     * compute x + num_x * y and return past the end). */
    const uint32_t *maxc = vk->props.limits.maxComputeWorkGroupCount;
    if (groups_x > maxc[0]) {
        if (groups_y != 1) {
            dsv3_vk_fail(vk, DSV3_ERR_BACKEND, "dispatch: %u x %u groups exceed the device's limits", groups_x,
                         groups_y);
            return;
        }
        groups_y = (groups_x + maxc[0] - 1) / maxc[0];
        groups_x = maxc[0];
    }
    if (groups_y > maxc[1] || groups_z > maxc[2]) {
        dsv3_vk_fail(vk, DSV3_ERR_BACKEND, "dispatch: %u x %u x %u groups exceed the device's limits", groups_x,
                     groups_y, groups_z);
        return;
    }
    if (dsv3_vk_begin(vk)) return;
    const dsv3_vk_fns *fn = vk->fn;
    fn->vkCmdBindPipeline(vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipe);
    if (pc_bytes) fn->vkCmdPushConstants(vk->cmd, vk->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, (uint32_t)pc_bytes, pc);
    fn->vkCmdDispatch(vk->cmd, groups_x, groups_y, groups_z);
    dsv3_vk_barrier(vk);
    /* Bound the command buffer; the upload ring is kept (ops may still
     * use what they uploaded for this op). */
    if (vk->pending > MAX_PENDING) dsv3_vk_submit_nowait(vk);
}
