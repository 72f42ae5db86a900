/*
 * test-outcome.c: outcomes, exit codes and DSN texts (SPEC 5), the mapping
 * of stage errors to outcomes, and the audit record built from a run.
 */
#include "m2wo.h"

#include <string.h>
#include <sysexits.h>

typedef struct {
	m2wo_outcome_t outcome;
	const char *name;
	int exit_code;
	const char *dsn;         /* NULL: no output line */
} outcome_case_t;

static const outcome_case_t outcome_cases[] = {
	{ M2WO_OUTCOME_CREATED, "created", 0, NULL },
	{ M2WO_OUTCOME_DUPLICATE, "duplicate", 0, NULL },
	{ M2WO_OUTCOME_DISCARDED, "discarded", 0, NULL },
	{ M2WO_OUTCOME_QUARANTINED, "quarantined", 0, NULL },
	{ M2WO_OUTCOME_TEMPFAIL, "tempfail", 75, "4.3.0 m2wo internal error" },
	{ M2WO_OUTCOME_UNMATCHED, "unmatched", 67,
	  "5.1.1 no mail configuration accepts this message" },
	{ M2WO_OUTCOME_CUSTOMER_NOT_FOUND, "customer_not_found", 65,
	  "5.6.0 customer not found" },
	{ M2WO_OUTCOME_INCOMPLETE, "incomplete", 65,
	  "5.6.0 work order incomplete" },
	{ M2WO_OUTCOME_REJECTED, "rejected", 65, "5.6.0 work order refused" },
	{ M2WO_OUTCOME_TOO_LARGE, "too_large", 65,
	  "5.3.4 message too big for m2wo" },
};

static void run_clear(m2wo_run_t *run)
{
	g_clear_pointer(&run->reason, g_free);
	g_clear_pointer(&run->dsn, g_free);
}

/* Postfix reads the DSN first line; it must be short and fixed. */
static void assert_dsn_safe(const char *dsn)
{
	g_assert_null(strstr(dsn, "://"));
	g_assert_null(strstr(dsn, "http"));
	g_assert_null(strstr(dsn, "token"));
	g_assert_null(strchr(dsn, '\n'));
	g_assert_cmpuint(strlen(dsn), <, 80);
	g_assert_true(g_regex_match_simple("^[45]\\.[0-9]\\.[0-9] [a-z0-9 .-]+$",
	                                   dsn, G_REGEX_CASELESS, 0));
}

static void test_outcomes(void)
{
	g_assert_cmpint(EX_TEMPFAIL, ==, 75);
	g_assert_cmpint(EX_NOUSER, ==, 67);
	g_assert_cmpint(EX_DATAERR, ==, 65);
	for (guint i = 0; i < G_N_ELEMENTS(outcome_cases); i++) {
		const outcome_case_t *c = &outcome_cases[i];
		m2wo_run_t run = { 0 };

		g_assert_cmpstr(outcome_to_string(c->outcome), ==, c->name);
		g_assert_cmpint(outcome_exit_code(c->outcome), ==, c->exit_code);
		outcome_set(&run, c->outcome, "some reason");
		g_assert_cmpint(run.outcome, ==, c->outcome);
		g_assert_cmpstr(run.reason, ==, "some reason");
		g_assert_cmpstr(run.dsn, ==, c->dsn);
		if (run.dsn != NULL)
			assert_dsn_safe(run.dsn);
		run_clear(&run);
	}
}

typedef struct {
	GQuark domain;
	int code;
	m2wo_outcome_t outcome;
	const char *dsn;
} error_case_t;

static void test_errors(void)
{
	const error_case_t cases[] = {
		{ M2WO_ERROR, M2WO_ERROR_TEMP, M2WO_OUTCOME_TEMPFAIL,
		  "4.4.1 OutSmart API unreachable" },
		{ M2WO_ERROR, M2WO_ERROR_CONFIG, M2WO_OUTCOME_TEMPFAIL,
		  "4.3.5 m2wo configuration error" },
		{ M2WO_ERROR, M2WO_ERROR_REGEX_LIMIT, M2WO_OUTCOME_TEMPFAIL,
		  "4.3.5 m2wo configuration error" },
		{ M2WO_ERROR, M2WO_ERROR_TOO_LARGE, M2WO_OUTCOME_TOO_LARGE,
		  "5.3.4 message too big for m2wo" },
		{ M2WO_ERROR, M2WO_ERROR_BAD_INPUT, M2WO_OUTCOME_REJECTED,
		  "5.6.0 message has no headers" },
		{ M2WO_ERROR, M2WO_ERROR_REJECT, M2WO_OUTCOME_REJECTED,
		  "5.6.0 work order refused" },
		{ M2WO_ERROR, M2WO_ERROR_NOT_FOUND, M2WO_OUTCOME_CUSTOMER_NOT_FOUND,
		  "5.6.0 customer not found" },
		{ M2WO_ERROR, M2WO_ERROR_INCOMPLETE, M2WO_OUTCOME_INCOMPLETE,
		  "5.6.0 work order incomplete" },
		{ M2WO_ERROR, M2WO_ERROR_INTERNAL, M2WO_OUTCOME_TEMPFAIL,
		  "4.3.0 m2wo internal error" },
		{ M2WO_ERROR, 999, M2WO_OUTCOME_TEMPFAIL,
		  "4.3.0 m2wo internal error" },
		{ G_FILE_ERROR, G_FILE_ERROR_NOSPC, M2WO_OUTCOME_TEMPFAIL,
		  "4.3.0 m2wo internal error" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = g_error_new(cases[i].domain, cases[i].code,
		                                      "regex limit in zip");
		m2wo_run_t run = { 0 };

		outcome_from_error(&run, error);
		if (run.outcome != cases[i].outcome
		    || g_strcmp0(run.dsn, cases[i].dsn) != 0)
			g_test_fail_printf("error %s/%d: got %s \"%s\", want %s \"%s\"",
			                   g_quark_to_string(cases[i].domain),
			                   cases[i].code, outcome_to_string(run.outcome),
			                   run.dsn, outcome_to_string(cases[i].outcome),
			                   cases[i].dsn);
		g_assert_cmpstr(run.reason, ==, "regex limit in zip");
		assert_dsn_safe(run.dsn);
		run_clear(&run);
	}
}

static void test_tempfail(void)
{
	static const char *const dsns[] = {
		M2WO_DSN_API_UNREACHABLE, M2WO_DSN_CONFIG, M2WO_DSN_DEADLINE,
		M2WO_DSN_INTERNAL, M2WO_DSN_DAILY_LIMIT, M2WO_DSN_DISK,
	};
	m2wo_run_t run = { 0 };

	for (guint i = 0; i < G_N_ELEMENTS(dsns); i++) {
		outcome_tempfail(&run, dsns[i], "deadline");
		g_assert_cmpint(run.outcome, ==, M2WO_OUTCOME_TEMPFAIL);
		g_assert_cmpstr(run.dsn, ==, dsns[i]);
		g_assert_true(g_str_has_prefix(run.dsn, "4."));
		assert_dsn_safe(run.dsn);
	}
	/* A permanent text must never go out with a temporary failure. */
	outcome_tempfail(&run, "5.6.0 work order refused", NULL);
	g_assert_cmpstr(run.dsn, ==, M2WO_DSN_INTERNAL);
	g_assert_null(run.reason);
	outcome_set(&run, M2WO_OUTCOME_CREATED, NULL);
	g_assert_null(run.dsn);
	run_clear(&run);
}

/* Reasons are cut and cleaned for the log, whatever the error said. */
static void test_reason_cleaned(void)
{
	g_autofree char *long_text = g_strnfill(500, 'a');
	g_autofree char *utf8 = NULL;
	m2wo_run_t run = { 0 };
	GString *s = g_string_new(NULL);

	outcome_set(&run, M2WO_OUTCOME_REJECTED, "line one\nline\ttwo\r\x01");
	g_assert_cmpstr(run.reason, ==, "line one line two  ");
	outcome_set(&run, M2WO_OUTCOME_REJECTED, long_text);
	g_assert_cmpuint(strlen(run.reason), ==, 200);
	for (int i = 0; i < 150; i++)
		g_string_append(s, "é");
	utf8 = g_string_free(s, FALSE);
	outcome_set(&run, M2WO_OUTCOME_REJECTED, utf8);
	g_assert_cmpuint(strlen(run.reason), ==, 200);
	g_assert_true(g_utf8_validate(run.reason, -1, NULL));
	outcome_set(&run, M2WO_OUTCOME_REJECTED, "bad \xff byte");
	g_assert_true(g_utf8_validate(run.reason, -1, NULL));
	run_clear(&run);
}

/* ------------------------------------------------------------------ audit */

static void test_audit_line(void)
{
	m2wo_msg_t msg = { 0 };
	m2wo_mailconf_t conf = { 0 };
	m2wo_run_t run = { 0 };
	g_autofree char *line = NULL;

	msg.message_id = "abc@example.com";
	msg.subject = "secret subject";
	msg.body = "secret body";
	conf.name = "Storing ACME";
	run.msg = &msg;
	run.conf = &conf;
	run.queue_id = "4BVK12";
	run.sender = "jan@example.com";
	run.recipient = "storing@service.example";
	run.outcome = M2WO_OUTCOME_CREATED;
	run.workorder_no = "M2WO-7Q3K9ZD2XW4A";
	run.row_id = 169824;
	run.relation = json_tokener_parse("{\"debtor_number\": \"DEB1001\"}");
	run.api_code = 200;
	run.http_status = 200;
	line = audit_format_line(&run, 0);
	g_assert_cmpstr(line, ==, "queue_id=4BVK12 message_id=<abc@example.com> "
	                "sender=jan@example.com recipient=storing@service.example "
	                "config=\"Storing ACME\" outcome=created "
	                "workorder_no=M2WO-7Q3K9ZD2XW4A row_id=169824 "
	                "customer=DEB1001 api_code=200 http=200 exit=0");
	json_object_put(run.relation);
}

static void test_audit_quoting(void)
{
	m2wo_run_t run = { 0 };
	g_autofree char *line = NULL;

	run.sender = "";
	run.recipient = "a\"b\\c=d\ne@x";
	run.outcome = M2WO_OUTCOME_DISCARDED;
	run.reason = "auto-reply";
	run.autoreply_signal = "empty-sender";
	run.dry_run = TRUE;
	run.started_us = g_get_monotonic_time();
	line = audit_format_line(&run, 0);
	g_assert_true(g_regex_match_simple("^sender=<> "
	        "recipient=\"a\\\\\"b\\\\\\\\c=d e@x\" outcome=discarded "
	        "reason=auto-reply signal=empty-sender exit=0 ms=[0-9]+ "
	        "dry_run=1$", line, 0, 0));
}

static void test_audit_json(void)
{
	m2wo_mailconf_t conf = { 0 };
	m2wo_run_t run = { 0 };
	g_autofree char *text = NULL;
	json_object *record, *value;

	conf.name = "Storing ACME";
	run.conf = &conf;
	run.recipient = "storing@service.example";
	run.outcome = M2WO_OUTCOME_TEMPFAIL;
	run.reason = "OutSmart API unreachable";
	run.http_status = 503;
	run.now = g_date_time_new_local(2024, 3, 7, 9, 5, 0);
	text = audit_format_json(&run, 75);
	g_assert_null(strchr(text, '\n'));
	g_assert_null(strstr(text, "\\/"));
	record = json_tokener_parse(text);
	g_assert_nonnull(record);
	g_assert_true(json_object_object_get_ex(record, "http", &value));
	g_assert_true(json_object_is_type(value, json_type_int));
	g_assert_cmpint(json_object_get_int(value), ==, 503);
	g_assert_true(json_object_object_get_ex(record, "exit", &value));
	g_assert_cmpint(json_object_get_int(value), ==, 75);
	g_assert_true(json_object_object_get_ex(record, "config", &value));
	g_assert_cmpstr(json_object_get_string(value), ==, "Storing ACME");
	g_assert_true(json_object_object_get_ex(record, "time", &value));
	g_assert_true(g_str_has_prefix(json_object_get_string(value),
	                               "2024-03-07T09:05:00"));
	g_assert_false(json_object_object_get_ex(record, "queue_id", &value));
	g_assert_false(json_object_object_get_ex(record, "row_id", &value));
	json_object_put(record);
	g_date_time_unref(run.now);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/outcome/outcomes", test_outcomes);
	g_test_add_func("/outcome/errors", test_errors);
	g_test_add_func("/outcome/tempfail", test_tempfail);
	g_test_add_func("/outcome/reason-cleaned", test_reason_cleaned);
	g_test_add_func("/audit/line", test_audit_line);
	g_test_add_func("/audit/quoting", test_audit_quoting);
	g_test_add_func("/audit/json", test_audit_json);
	return g_test_run();
}
