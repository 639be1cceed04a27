/* cli.h -- subcommands of the dsv3 command-line program. Each returns the
 * process exit status (0 success); errors go to stderr. */
#ifndef DSV3_CLI_H
#define DSV3_CLI_H

int cmd_info(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_mtp_logits(int argc, char **argv);
int cmd_synth(int argc, char **argv);

#endif
