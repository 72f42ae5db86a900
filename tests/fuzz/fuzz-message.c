/*
 * fuzz-message.c: libFuzzer harness for everything m2wo does with one
 * message before the network: parse, classify, match, regex rules, the work
 * order and the audit record, offline. The input is the raw message. Any
 * crash, sanitizer report or leak is a bug in m2wo; an outcome is never one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m2wo.h"

/* Every matcher once, none of which a random message is likely to satisfy,
 * then a catch-all with regex rules, every built-in parameter and both
 * attachment options, so that every stage runs on every input. */
static const char fuzz_body[] =
	"[defaults]\n"
	"forced.TypeOfWork = Storing\n"
	"forced.PaymentMethod = op rekening\n"
	"forced.ShortWorkDescription = {subject}\n"
	"forced.WorkDescription = {mail_content}\n"
	"forced.InternalWorkDescription = {email_display_name} <{sender_address}>"
	" {date_mail_process_dmy} {date_mail_process_ymd} {time_mail_process}"
	" {message_id} {message_key} {recipient} {config_name} {obj_code}\n"
	"\n"
	"[config s]\nsender_type = Sender\nsender_value = a@x.example;b@y.example\n"
	"[config d]\nsender_type = SenderDomain\nsender_value = *.z.example\n"
	"[config tc]\nsender_type = TitleContains\nsender_value = QQzz;ZZqq\n"
	"[config te]\nsender_type = TitleEquals\nsender_value = QQzz\n"
	"[config mc]\nsender_type = MessageContains\nsender_value = QQzzXX\n"
	"[config r]\nsender_type = Recipient\nsender_value = other@x.example\n"
	"[config sr]\nsender_type = SenderRegex\nsender_value = ^qq[0-9]+@\n"
	"[config tr]\nsender_type = TitleRegex\nsender_value = (?i)^zz(\\d+)$\n"
	"[config mr]\nsender_type = MessageRegex\n"
	"sender_value = (?i)\\bQQ(?:zz|xx)+\\b\n"
	"[config alles]\n"
	"sender_type = Any\n"
	"parse_attachments = true\n"
	"attach_original = true\n"
	"regex.customer_zip = (?m)^Postcode:\\s*(\\d{4}\\s?[A-Za-z]{2})\\s*$\n"
	"regex.customer_street = (?m)^Adres:\\s*(?<value>.+?)\\s*$\n"
	"regex.customer_phone = (?m)^Tel\\w*:\\s*([+\\d][\\d \\-]{6,}\\d)\n"
	"regex.obj_code = \\b(OBJ-\\d+)\\b\n"
	"subject_regex.ticket = \\[(?:melding|ticket)\\s*#?(?<value>\\d+)\\]\n"
	"forced.ExternProjectNr = {ticket}\n"
	"forced.Comment = {customer_phone} {customer_street} {customer_zip}\n"
	"forced.CustomerRemark = {obj_code}\n";

static m2wo_config_t *fuzz_config;

static void
fuzz_write(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
	chmod(path, mode);
}

/* The configuration is loaded once, as the binary does per process. */
static void
fuzz_load_config(void)
{
	g_autofree char *dir = g_dir_make_tmp("m2wo-fuzz-XXXXXX", NULL);
	g_autofree char *conf = g_build_filename(dir, "m2wo.conf", NULL);
	g_autofree char *token = g_build_filename(dir, "token", NULL);
	g_autofree char *soft = g_build_filename(dir, "software-token", NULL);
	g_autofree char *text = NULL;
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);

	fuzz_write(token, "test-token-not-real\n", 0600);
	fuzz_write(soft, "test-software-token-not-real\n", 0600);
	text = g_strdup_printf("[m2wo]\napi_url = https://127.0.0.1:9/openapi/8\n"
	                       "token_file = %s\nsoftware_token_file = %s\n\n%s",
	                       token, soft, fuzz_body);
	fuzz_write(conf, text, 0600);
	fuzz_config = config_load(conf, TRUE, problems);
	for (guint i = 0; i < problems->len; i++)
		fprintf(stderr, "fuzz-message: %s\n", (char *) problems->pdata[i]);
	if (fuzz_config == NULL)
		abort();
	unlink(conf);
	unlink(token);
	unlink(soft);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	g_mime_init();
	fuzz_load_config();
	return 0;
}

/* A relation as the API would give it, with message text in it: the
 * customer fields of the work order then run on hostile text too. */
static json_object *
fuzz_relation(const m2wo_msg_t *msg)
{
	json_object *rel = json_object_new_object();

	json_object_object_add(rel, "debtor_number",
	                       json_object_new_string("DEB1001"));
	json_object_object_add(rel, "name", json_object_new_string(msg->subject));
	json_object_object_add(rel, "contact",
	                       json_object_new_string(msg->from_name));
	json_object_object_add(rel, "email",
	                       json_object_new_string(msg->from_address));
	json_object_object_add(rel, "street", json_object_new_string("Voorstraat"));
	json_object_object_add(rel, "postal_code", NULL);
	json_object_object_add(rel, "city", json_object_new_int(7));
	return rel;
}

/* What the library does after the offline pipeline: the work order with a
 * relation, its JSON, the audit record, the quarantine header strip. */
static void
fuzz_after(m2wo_run_t *run, GBytes *raw, int code)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) stripped = quarantine_strip(raw);
	g_autofree char *line = audit_format_line(run, code);
	g_autofree char *record = audit_format_json(run, code);

	/* The audit record is one line, and valid UTF-8 JSON. */
	if (strchr(line, '\n') != NULL || !g_utf8_validate(record, -1, NULL) ||
	    stripped == NULL)
		abort();
	if (run->msg != NULL) {
		(void) classify_autoreply(run->msg, NULL);
		(void) classify_autoreply(run->msg, "");
	}
	if (run->msg == NULL || run->conf == NULL || run->params == NULL)
		return;
	run->relation = fuzz_relation(run->msg);
	if (workorder_build(run, &error)) {
		g_autoptr(GPtrArray) missing = g_ptr_array_new();
		g_autofree char *pretty = workorder_to_json(run->workorder, TRUE);
		g_autofree char *plain = workorder_to_json(run->workorder, FALSE);

		(void) workorder_missing(run->workorder, FALSE, missing);
		if (!g_utf8_validate(plain, -1, NULL) ||
		    !g_utf8_validate(pretty, -1, NULL))
			abort(); /* json-c writes invalid UTF-8 as it is */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GBytes) raw = g_bytes_new(data, size);
	m2wo_run_t *run = run_new(fuzz_config);
	int code;

	run->dry_run = TRUE;
	run->offline = TRUE;
	run->explain = g_string_new(NULL);
	run->sender = g_strdup("jan@example.com");
	run->recipient = g_strdup("storing@example.nl");
	code = pipeline_run(run, raw);
	if (code != 0 && code != 65 && code != 67 && code != 75)
		abort();
	if (run->dsn != NULL && strchr(run->dsn, '\n') != NULL)
		abort(); /* the DSN line must stay one line */
	fuzz_after(run, raw, code);
	run->config = NULL;
	run_free(run);
	return 0;
}
