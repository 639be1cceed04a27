/* fs_hint.c -- see fs_hint.h. The library maps weight files and checks
 * before each step that they are unchanged, but a file truncated while a
 * step runs still raises SIGBUS (dsv3.h, "Weight files that change after
 * load"). That is most likely where another machine or a plugged device
 * owns the file, so the program says so at load. Linux only: statfs's
 * f_type (magic numbers from linux/magic.h); elsewhere no note. */
#include "fs_hint.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__linux__)
#include <sys/vfs.h>

static const struct { uint32_t magic; const char *name; int removable; } KINDS[] = {
    {0x6969u, "nfs", 0},           {0x517Bu, "smb", 0},        {0xFF534D42u, "cifs", 0},
    {0xFE534D42u, "smb2", 0},      {0x65735546u, "fuse", 0},   {0x01021997u, "9p", 0},
    {0x00C36400u, "ceph", 0},      {0x5346414Fu, "afs", 0},    {0x73757245u, "coda", 0},
    {0x0BD00BD0u, "lustre", 0},    {0x01161970u, "gfs2", 0},   {0x7461636Fu, "ocfs2", 0},
    {0x4D44u, "vfat", 1},          {0x2011BAB0u, "exfat", 1},  {0x5346544Eu, "ntfs", 1},
    {0x9660u, "iso9660", 1},       {0x15013346u, "udf", 1},
};

static int kind_index(const char *path) {
    struct statfs sf;
    if (!path || statfs(path, &sf) != 0) return -1;
    uint32_t t = (uint32_t)sf.f_type;
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (KINDS[i].magic == t) return (int)i;
    return -1;
}

const char *cli_fs_kind(const char *path) {
    int i = kind_index(path);
    return i < 0 ? NULL : KINDS[i].name;
}

void cli_fs_hint(const char *cmd, const char *path, FILE *f) {
    int i = kind_index(path);
    if (i < 0) return;
    fprintf(f,
            "dsv3 %s: note: %s is on a %s filesystem (%s). The weights are mapped from it: if the file is changed "
            "while dsv3 runs, the next step fails with 'changed on disk', and a truncation during a step can kill "
            "the process (SIGBUS). A copy on a local disk is safe; programs can also load with use_mmap = 0.\n",
            cmd, path, KINDS[i].removable ? "removable-media" : "network or FUSE", KINDS[i].name);
}
#else
const char *cli_fs_kind(const char *path) {
    (void)path;
    return NULL;
}
void cli_fs_hint(const char *cmd, const char *path, FILE *f) {
    (void)cmd;
    (void)path;
    (void)f;
}
#endif
