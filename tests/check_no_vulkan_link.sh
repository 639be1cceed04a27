#!/bin/sh
# check_no_vulkan_link.sh LIBDSV3_SO -- the Vulkan backend opens the loader
# at run time (dlopen "libvulkan.so.1"), so the library has no link-time
# dependency on it: a machine without Vulkan still loads libdsv3 and runs
# every CPU backend. Prints the NEEDED lines; fails on a libvulkan one.
so=$1
command -v readelf >/dev/null 2>&1 || { echo "FAIL: readelf not found (binutils)"; exit 1; }
needed=$(readelf -d "$so" | grep '(NEEDED)') || { echo "FAIL: readelf -d $so lists no NEEDED entry"; exit 1; }
echo "$needed"
if echo "$needed" | grep -qi 'vulkan'; then
  echo "FAIL: $so links libvulkan"
  exit 1
fi
echo "ok: $so has no NEEDED libvulkan"
