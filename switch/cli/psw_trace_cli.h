/* podswitchctl trace (psw_trace_cli.c): arm, print the traced packets, disarm. */
#ifndef PSW_TRACE_CLI_H
#define PSW_TRACE_CLI_H

/** Run `trace` with argv[0] = "trace"; exit status (0: every packet traced). */
int psw_cli_trace(const char *socket_path, int argc, char **argv);

#endif /* PSW_TRACE_CLI_H */
