/* fs_hint.h -- a note when a model lives on a network or removable
 * filesystem, where the mapped weights may change or vanish under the
 * running program. */
#ifndef DSV3_CLI_FS_HINT_H
#define DSV3_CLI_FS_HINT_H

#include <stdio.h>

/* The kind of filesystem path is on when it is a network, FUSE or
 * typically removable one ("nfs", "cifs", "fuse", "vfat", ...), else NULL
 * (local disks, unknown systems, errors). */
const char *cli_fs_kind(const char *path);

/* Print one note to f when cli_fs_kind(path) is not NULL. */
void cli_fs_hint(const char *cmd, const char *path, FILE *f);

#endif
