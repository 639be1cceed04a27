/* cmd_synth_gguf.c -- `dsv3 synth ... -o FILE.gguf --type T`: synthesize
 * the HF checkpoint into a scratch directory beside FILE, convert it with
 * `dsv3 convert` (keeping the MTP layer when there is one), and remove the
 * scratch directory. Other `-o` values go to the HF writer unchanged. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[8192];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p)
            unlink(p);
    closedir(d);
    rmdir(dir);
}

int cmd_synth_any(int argc, char **argv) {
    const char *out = NULL, *type = NULL;
    int no_mtp = 0;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) && i + 1 < argc) out = argv[i + 1];
        if (!strcmp(argv[i], "--type") && i + 1 < argc) type = argv[i + 1];
        if (!strcmp(argv[i], "--no-mtp")) no_mtp = 1;
    }
    if (!out || !ends_with(out, ".gguf")) {
        if (type) { fprintf(stderr, "dsv3 synth: --type needs -o FILE.gguf\n"); return 2; }
        return cmd_synth(argc, argv);
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.synth-tmp", out) >= (int)sizeof tmp) {
        fprintf(stderr, "dsv3 synth: path too long\n");
        return 2;
    }
    /* the same arguments, with -o pointing at the scratch directory and
     * without --type */
    char **sargv = calloc((size_t)argc + 1, sizeof *sargv);
    if (!sargv) return 1;
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc) { i++; continue; }
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) && i + 1 < argc) {
            sargv[n++] = argv[i];
            sargv[n++] = tmp;
            i++;
            continue;
        }
        sargv[n++] = argv[i];
    }
    int rc = cmd_synth(n, sargv);
    free(sargv);
    if (rc == 0) {
        char *cargv[] = {"convert", "-m", tmp, "-o", (char *)out, "--type", (char *)(type ? type : "BF16"),
                         no_mtp ? NULL : "--keep-mtp", NULL};
        /* --keep-mtp fails on a checkpoint without MTP: only pass it when
         * the shape has one (config.json says) */
        char cfg[4200];
        snprintf(cfg, sizeof cfg, "%s/config.json", tmp);
        size_t len;
        char *text = read_file(cfg, &len);
        if (text && strstr(text, "\"num_nextn_predict_layers\": 0")) cargv[7] = NULL;
        free(text);
        rc = cmd_convert(cargv[7] ? 8 : 7, cargv);
    }
    remove_dir(tmp);
    return rc;
}
