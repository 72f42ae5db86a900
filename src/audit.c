/*
 * audit.c: the one audit record per message (SPEC 5): a key=value line for
 * syslog and the same record as a JSON line for audit_file. It never writes
 * a subject, a body, a token or an API answer, and a failing audit file
 * never changes the outcome.
 */
#include "m2wo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

/* One field of the record; str NULL means a number. */
typedef struct {
	const char *key;
	char *str;
	gint64 num;
} audit_field_t;

static void audit_field_clear(audit_field_t *field)
{
	g_free(field->str);
}

char *audit_clean(const char *text, gsize max)
{
	g_autofree char *valid = g_utf8_make_valid(text != NULL ? text : "", -1);
	const char *end = valid;
	GString *out = g_string_new(NULL);

	/* Cut at the last character boundary within max bytes. */
	while (*end != '\0') {
		const char *next = g_utf8_next_char(end);
		if ((gsize)(next - valid) > max)
			break;
		end = next;
	}
	for (const char *p = valid; p < end; p++)
		g_string_append_c(out, g_ascii_iscntrl(*p) ? ' ' : *p);
	return g_string_free(out, FALSE);
}

static void add_str(GArray *fields, const char *key, const char *value)
{
	audit_field_t field = { key, NULL, 0 };

	if (value == NULL || *value == '\0')
		return;
	field.str = audit_clean(value, M2WO_MAX_AUDIT_VALUE);
	g_array_append_val(fields, field);
}

static void add_num(GArray *fields, const char *key, gint64 value)
{
	audit_field_t field = { key, NULL, value };

	g_array_append_val(fields, field);
}

static const char *relation_debtor(json_object *relation)
{
	json_object *value = NULL;

	if (relation == NULL
	    || !json_object_object_get_ex(relation, "debtor_number", &value)
	    || json_object_get_type(value) == json_type_null)
		return NULL;
	return json_object_get_string(value);
}

/* The record of SPEC 5, in its order; keys without a value are left out. */
static GArray *audit_fields(const m2wo_run_t *run, int exit_code)
{
	GArray *fields = g_array_new(FALSE, FALSE, sizeof(audit_field_t));
	g_autofree char *message_id = NULL;

	g_array_set_clear_func(fields, (GDestroyNotify)audit_field_clear);
	if (run->msg != NULL && run->msg->message_id != NULL
	    && *run->msg->message_id != '\0')
		message_id = g_strdup_printf("<%s>", run->msg->message_id);
	/* -q names the attempt; without it (local(8), procmail, maildrop,
	 * --drop) Postfix's Received header names the message. */
	add_str(fields, "queue_id", run->queue_id != NULL ? run->queue_id
	        : run->msg != NULL ? run->msg->queue_id : NULL);
	add_str(fields, "message_id", message_id);
	/* The null sender is a fact worth logging, not an unknown. */
	add_str(fields, "sender", run->sender != NULL && *run->sender == '\0'
	                          ? "<>" : run->sender);
	add_str(fields, "recipient", run->recipient);
	add_str(fields, "config", run->conf != NULL ? run->conf->name : NULL);
	add_str(fields, "outcome", outcome_to_string(run->outcome));
	add_str(fields, "reason", run->reason);
	add_str(fields, "signal", run->autoreply_signal);
	add_str(fields, "workorder_no", run->workorder_no);
	if (run->row_id > 0)
		add_num(fields, "row_id", run->row_id);
	add_str(fields, "customer", relation_debtor(run->relation));
	if (run->api_code != 0)
		add_num(fields, "api_code", run->api_code);
	if (run->http_status != 0)
		add_num(fields, "http", run->http_status);
	if (run->attachments_skipped > 0)
		add_num(fields, "attachments_skipped", run->attachments_skipped);
	add_num(fields, "exit", exit_code);
	if (run->started_us > 0)
		add_num(fields, "ms", (g_get_monotonic_time() - run->started_us)
		                      / 1000);
	if (run->dry_run)
		add_num(fields, "dry_run", 1);
	return fields;
}

static gboolean needs_quotes(const char *value)
{
	return *value == '\0' || strpbrk(value, " \t\"=\\") != NULL;
}

static void append_value(GString *line, const char *value)
{
	if (!needs_quotes(value)) {
		g_string_append(line, value);
		return;
	}
	g_string_append_c(line, '"');
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c(line, '\\');
		g_string_append_c(line, *p);
	}
	g_string_append_c(line, '"');
}

char *audit_format_line(const m2wo_run_t *run, int exit_code)
{
	g_autoptr(GArray) fields = audit_fields(run, exit_code);
	GString *line = g_string_new(NULL);

	for (guint i = 0; i < fields->len; i++) {
		const audit_field_t *field = &g_array_index(fields, audit_field_t, i);

		if (line->len > 0)
			g_string_append_c(line, ' ');
		g_string_append_printf(line, "%s=", field->key);
		if (field->str != NULL)
			append_value(line, field->str);
		else
			g_string_append_printf(line, "%" G_GINT64_FORMAT, field->num);
	}
	return g_string_free(line, FALSE);
}

static json_object *audit_time(const m2wo_run_t *run)
{
	g_autoptr(GDateTime) now = run->now != NULL ? g_date_time_ref(run->now)
	                                            : g_date_time_new_now_local();
	g_autofree char *text = g_date_time_format_iso8601(now);

	return json_object_new_string(text);
}

char *audit_format_json(const m2wo_run_t *run, int exit_code)
{
	g_autoptr(GArray) fields = audit_fields(run, exit_code);
	json_object *record = json_object_new_object();
	char *text;

	/* Syslog stamps its lines; the JSON file has only this. */
	json_object_object_add(record, "time", audit_time(run));
	for (guint i = 0; i < fields->len; i++) {
		const audit_field_t *field = &g_array_index(fields, audit_field_t, i);
		json_object *value = field->str != NULL
		                     ? json_object_new_string(field->str)
		                     : json_object_new_int64(field->num);

		json_object_object_add(record, field->key, value);
	}
	text = g_strdup(json_object_to_json_string_ext(record,
	        JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(record);
	return text;
}

void audit_open(int facility)
{
	openlog("m2wo", LOG_PID, facility);
}

/* Appends one JSON record with a single write(2) on an O_APPEND descriptor,
 * so that records of concurrent deliveries never interleave. */
static void audit_append(const char *path, const char *record)
{
	g_autofree char *data = g_strconcat(record, "\n", NULL);
	gsize len = strlen(data);
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
	          0640);
	if (fd < 0) {
		syslog(LOG_ERR, "audit_file %s: %s", path, g_strerror(errno));
		return;
	}
	do
		n = write(fd, data, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		syslog(LOG_ERR, "audit_file %s: %s", path, g_strerror(errno));
	else if ((gsize)n != len)
		syslog(LOG_ERR, "audit_file %s: short write", path);
	if (close(fd) < 0 && n >= 0)
		syslog(LOG_ERR, "audit_file %s: %s", path, g_strerror(errno));
}

void audit_write(const m2wo_run_t *run, int exit_code)
{
	g_autofree char *line = audit_format_line(run, exit_code);

	if (run->dry_run) {
		fprintf(stderr, "%s\n", line);
		return;
	}
	syslog(exit_code == 0 ? LOG_INFO : LOG_WARNING, "%s", line);
	if (run->config != NULL && run->config->audit_file != NULL) {
		g_autofree char *record = audit_format_json(run, exit_code);

		audit_append(run->config->audit_file, record);
	}
}
