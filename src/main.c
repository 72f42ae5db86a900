/*
 * main.c: the command line of m2wo (SPEC 2). It reads the options, loads the
 * configuration and hands one message (pipe mode), many (--drop) or none
 * (--check-config) to the pipeline. Whatever it prints first is the DSN line
 * Postfix shows the sender: short fixed text, never a secret or the message.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#include "m2wo.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define M2WO_DEF_CONFIG SYSCONFDIR "/m2wo/m2wo.conf"
#define M2WO_DEADLINE_GRACE 5	/* seconds past deadline for the alarm */

static char *opt_config;
static char *opt_sender;
static char *opt_recipient;
static char *opt_queue_id;
static gboolean opt_dry_run;
static gboolean opt_explain;
static gboolean opt_offline;
static gboolean opt_drop;
static gboolean opt_check;
static gboolean opt_version;
static char **opt_rest;

static const GOptionEntry main_options[] = {
	{ "config", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config,
	  "Configuration file (default " M2WO_DEF_CONFIG " or $M2WO_CONFIG)",
	  "FILE" },
	{ "sender", 'f', 0, G_OPTION_ARG_FILENAME, &opt_sender,
	  "Envelope sender (Postfix ${sender}); default $SENDER", "SENDER" },
	{ "recipient", 'r', 0, G_OPTION_ARG_FILENAME, &opt_recipient,
	  "Envelope recipient (Postfix ${recipient}); default $RECIPIENT",
	  "RECIPIENT" },
	{ "queue-id", 'q', 0, G_OPTION_ARG_FILENAME, &opt_queue_id,
	  "Queue id for the audit line (Postfix ${queue_id}); default the id in "
	  "Postfix's topmost Received header", "QUEUE_ID" },
	{ "dry-run", 'n', 0, G_OPTION_ARG_NONE, &opt_dry_run,
	  "Change nothing; print the work order that would be posted", NULL },
	{ "explain", 0, 0, G_OPTION_ARG_NONE, &opt_explain,
	  "With -n: print a readable trace of every decision first", NULL },
	{ "offline", 0, 0, G_OPTION_ARG_NONE, &opt_offline,
	  "With -n: make no API request at all", NULL },
	{ "drop", 0, 0, G_OPTION_ARG_NONE, &opt_drop,
	  "WorkOrder Drop: process .eml files, folders and Maildirs", NULL },
	{ "check-config", 0, 0, G_OPTION_ARG_NONE, &opt_check,
	  "Validate the configuration file and exit (0, or 78)", NULL },
	{ "version", 0, 0, G_OPTION_ARG_NONE, &opt_version,
	  "Print the version and exit", NULL },
	{ G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_rest,
	  NULL, "[RECIPIENT] | PATH..." },
	{ NULL, 0, 0, 0, NULL, NULL, NULL }
};

/* The deadline's last line of defence: whatever hangs, the MTA keeps the
 * mail. Only async-signal-safe calls here. */
static void
main_alarm(int sig)
{
	static const char line[] = M2WO_DSN_DEADLINE "\n";

	(void)sig;
	if (write(STDOUT_FILENO, line, sizeof line - 1) < 0)
		_exit(EX_TEMPFAIL);
	_exit(EX_TEMPFAIL);
}

/* A usage error in pipe mode must not bounce the mail: it is the
 * administrator's mistake, so the MTA keeps the message (75). */
static int
main_usage_error(const char *text)
{
	printf("%s\n", M2WO_DSN_CONFIG);
	fprintf(stderr, "m2wo: %s (see m2wo --help)\n", text);
	return EX_TEMPFAIL;
}

static gboolean
main_parse_options(int *argc, char ***argv, GError **error)
{
	g_autoptr(GOptionContext) context =
	    g_option_context_new("- turn one e-mail into an OutSmart work order");

	g_option_context_add_main_entries(context, main_options, NULL);
	g_option_context_set_description(context,
	    "Modes:\n"
	    "  m2wo [-c FILE] [-f SENDER] [-r RECIPIENT] [-q QUEUE_ID] "
	    "[-n [--explain] [--offline]] [RECIPIENT] < message\n"
	    "  m2wo --drop [-c FILE] [-f SENDER] [-r RECIPIENT] [-n [--explain] [--offline]] PATH...\n"
	    "  m2wo --check-config [-c FILE]\n\n"
	    "Exit status: 0 delivered, 75 try again later, 65 and 67 bounce,\n"
	    "78 configuration problems (--check-config). See m2wo(8).\n");
	return g_option_context_parse(context, argc, argv, error);
}

static const char *
main_config_path(void)
{
	const char *env = g_getenv("M2WO_CONFIG");

	if (opt_config != NULL)
		return opt_config;
	return env != NULL && *env != '\0' ? env : M2WO_DEF_CONFIG;
}

static int
main_check_config(const char *path)
{
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(m2wo_config_t) config = config_load(path, TRUE, problems);
	guint i;

	if (config != NULL)
		config_check_tokens(config, problems);
	for (i = 0; i < problems->len; i++)
		printf("%s\n", (char *)problems->pdata[i]);
	if (problems->len > 0)
		return EX_CONFIG;
	printf("%s: ok, %u mail configurations\n", path,
	    config->mailconfs->len);
	return EX_OK;
}

/* Envelope values come as bytes: Postfix's pipe(8) runs m2wo with
 * LANG=C, and an SMTPUTF8 address is UTF-8 whatever the locale says, so
 * they are read as file names (no conversion that could refuse them) and
 * made valid UTF-8 here. NULL stays NULL. */
static char *
main_utf8(const char *bytes)
{
	return bytes != NULL ? g_utf8_make_valid(bytes, -1) : NULL;
}

/* The envelope: options first, then what local(8) and procmail set. */
static void
main_envelope(m2wo_run_t *run)
{
	const char *sender = opt_sender != NULL ? opt_sender :
	    g_getenv("SENDER");
	const char *recipient = opt_recipient != NULL ? opt_recipient :
	    g_getenv("RECIPIENT");

	if (!opt_drop && opt_recipient == NULL && opt_rest != NULL &&
	    opt_rest[0] != NULL)
		recipient = opt_rest[0];
	run->sender = main_utf8(sender);
	run->recipient = main_utf8(recipient);
	run->queue_id = main_utf8(opt_queue_id);
	run->dry_run = opt_dry_run;
	run->offline = opt_offline;
	if (opt_explain)
		run->explain = g_string_new(NULL);
}

/* Prints what a run decided: the trace and the JSON for dry runs, the DSN
 * line first otherwise; then the audit record. */
static void
main_report(m2wo_run_t *run, int code)
{
	if (run->dry_run) {
		if (run->explain != NULL)
			fputs(run->explain->str, stdout);
		if (run->workorder != NULL) {
			g_autofree char *json =
			    workorder_to_json(run->workorder, TRUE);
			printf("%s\n", json);
		}
		if (run->dsn != NULL)
			fprintf(stderr, "%s\n", run->dsn);
	} else if (run->dsn != NULL) {
		printf("%s\n", run->dsn);
	}
	fflush(stdout);
	audit_write(run, code);
}

/* The configuration could not be loaded: keep the mail, say why in the
 * log (never in the bounce text). */
static int
main_config_failed(const char *path, GPtrArray *problems)
{
	m2wo_config_t fallback = { 0 };
	g_autoptr(m2wo_run_t) run = NULL;
	g_autofree char *reason = NULL;
	int code;

	fallback.deadline = M2WO_DEF_DEADLINE;
	fallback.syslog_facility = LOG_MAIL;
	run = run_new(&fallback);
	main_envelope(run);
	reason = g_strdup_printf("configuration: %s", problems->len > 0 ?
	    (char *)problems->pdata[0] : path);
	{
		g_autoptr(GError) error = g_error_new_literal(M2WO_ERROR,
		    M2WO_ERROR_CONFIG, reason);
		outcome_from_error(run, error);
	}
	audit_open(LOG_MAIL);
	code = outcome_exit_code(run->outcome);
	main_report(run, code);
	if (opt_dry_run || isatty(STDERR_FILENO))
		fprintf(stderr, "m2wo: %s\n", reason);
	run->config = NULL;
	return code;
}

static int
main_pipe(m2wo_config_t *config)
{
	g_autoptr(m2wo_run_t) run = run_new(config);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) raw = NULL;
	int code;

	main_envelope(run);
	signal(SIGALRM, main_alarm);
	alarm((unsigned)config->deadline + M2WO_DEADLINE_GRACE);
	raw = input_read_fd(STDIN_FILENO, config->max_message_size,
	                    run->deadline_us, &error);
	if (raw == NULL) {
		outcome_from_error(run, error);
		code = outcome_exit_code(run->outcome);
	} else {
		code = pipeline_run(run, raw);
	}
	main_report(run, code);
	return code;
}

/* --drop: the envelope options, when given, apply to every message (a
 * Recipient configuration then matches on replay). */
static int
main_drop(m2wo_config_t *config)
{
	g_autoptr(m2wo_run_t) run = run_new(config);

	main_envelope(run);
	return drop_run(run, opt_rest);
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) problems = NULL;
	g_autoptr(m2wo_config_t) config = NULL;
	const char *path;

	if (!main_parse_options(&argc, &argv, &error))
		return main_usage_error(error->message);
	if (opt_version) {
		printf("m2wo %s\n", PACKAGE_VERSION);
		return EX_OK;
	}
	if ((opt_explain || opt_offline) && !opt_dry_run)
		return main_usage_error("--explain and --offline need -n");
	path = main_config_path();
	if (opt_check)
		return main_check_config(path);
	if (!opt_drop && isatty(STDIN_FILENO)) {
		fprintf(stderr, "m2wo: standard input is a terminal: pipe one "
		    "message into m2wo, or use --drop PATH\n");
		return EX_USAGE;
	}
	if (opt_drop && (opt_rest == NULL || opt_rest[0] == NULL))
		return main_usage_error("--drop needs at least one PATH");
	g_mime_init();
	problems = g_ptr_array_new_with_free_func(g_free);
	config = config_load(path, FALSE, problems);
	if (config == NULL)
		return main_config_failed(path, problems);
	audit_open(config->syslog_facility);
	if (opt_drop)
		return main_drop(config);
	return main_pipe(config);
}
