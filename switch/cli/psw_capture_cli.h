/* `podswitchctl capture`: a port's packets into a pcapng file (psw_capture_cli.c). */
#ifndef PSW_CAPTURE_CLI_H
#define PSW_CAPTURE_CLI_H

/** Run the verb; argv[0] is "capture". Returns the exit status. */
int psw_cli_capture(const char *socket_path, int argc, char **argv);

#endif /* PSW_CAPTURE_CLI_H */
