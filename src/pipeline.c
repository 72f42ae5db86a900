/*
 * pipeline.c: one message through every stage, from raw bytes to an outcome.
 * parse -> classify -> match -> extract -> customer -> work order -> dedupe
 * -> post, then the policies of SPEC 4 and 5. It prints nothing and logs
 * nothing: main.c and drop.c report what it decided.
 */
#include "config.h"

#include <string.h>

#include "m2wo.h"

m2wo_run_t *
run_new(m2wo_config_t *config)
{
	m2wo_run_t *run = g_new0(m2wo_run_t, 1);

	run->config = config;
	run->started_us = g_get_monotonic_time();
	run->deadline_us = run->started_us +
	    (gint64)config->deadline * G_USEC_PER_SEC;
	run->now = g_date_time_new_now_local();
	run->outcome = M2WO_OUTCOME_TEMPFAIL;
	return run;
}

/* Forgets what one message left behind, keeping the API client. */
static void
run_clear_message(m2wo_run_t *run)
{
	g_clear_pointer(&run->msg, msg_free);
	g_clear_pointer(&run->raw, g_bytes_unref);
	g_clear_pointer(&run->params, g_hash_table_unref);
	g_clear_pointer(&run->relation, json_object_put);
	g_clear_pointer(&run->invoice_relation, json_object_put);
	g_clear_pointer(&run->adr_code, g_free);
	g_clear_pointer(&run->work_objects, g_ptr_array_unref);
	g_clear_pointer(&run->workorder, json_object_put);
	g_clear_pointer(&run->reason, g_free);
	g_clear_pointer(&run->dsn, g_free);
	g_clear_pointer(&run->workorder_no, g_free);
	run->autoreply_signal = NULL;
	run->conf = NULL;
	run->row_id = 0;
	run->api_code = 0;
	run->http_status = 0;
	run->attachments_skipped = 0;
	run->outcome = M2WO_OUTCOME_TEMPFAIL;
}

void
run_free(m2wo_run_t *run)
{
	if (run == NULL)
		return;
	run_clear_message(run);
	g_clear_pointer(&run->api, api_free);
	g_clear_pointer(&run->now, g_date_time_unref);
	g_free(run->sender);
	g_free(run->recipient);
	g_free(run->queue_id);
	if (run->explain != NULL)
		g_string_free(run->explain, TRUE);
	g_free(run);
}

/* Records an API reply's numbers for the audit line. */
static void
pipeline_note_reply(m2wo_run_t *run, const m2wo_api_reply_t *reply)
{
	run->api_code = reply->code;
	run->http_status = reply->http;
}

/*
 * Applies a refusal policy: bounce keeps the outcome (and its 5.x.y text),
 * discard turns it into "discarded", quarantine writes the message away
 * first. Dry runs decide but write nothing.
 */
static void
pipeline_refuse(m2wo_run_t *run, m2wo_outcome_t outcome, const char *reason,
                m2wo_policy_t policy)
{
	g_autoptr(GError) error = NULL;

	switch (policy) {
	case M2WO_POLICY_DISCARD:
		explain(run, "policy: discard (%s)", reason);
		outcome_set(run, M2WO_OUTCOME_DISCARDED, reason);
		return;
	case M2WO_POLICY_QUARANTINE:
		explain(run, "policy: quarantine (%s)", reason);
		if (!run->dry_run &&
		    !quarantine_write(run, outcome_to_string(outcome), reason,
		    &error)) {
			outcome_from_error(run, error);
			return;
		}
		outcome_set(run, M2WO_OUTCOME_QUARANTINED, reason);
		return;
	case M2WO_POLICY_BOUNCE:
	case M2WO_POLICY_PROCESS:
		break;
	}
	explain(run, "policy: bounce (%s)", reason);
	outcome_set(run, outcome, reason);
}

/* GetWorkorder with update_status=false, always: the default marks the
 * work order handled. 1 exists, 0 not there yet, -1 error. */
static int
pipeline_dedupe(m2wo_run_t *run, GError **error)
{
	const char *pairs[] = { "workorder_no", run->workorder_no,
	    "update_status", "false", NULL };
	g_autoptr(m2wo_api_reply_t) reply = NULL;

	if (run->config->dedupe == M2WO_DEDUPE_OFF || run->offline) {
		explain(run, "dedupe: %s", run->offline ?
		    "skipped (offline)" : "off");
		return 0;
	}
	reply = api_get_params(run->api, "GetWorkorder", pairs);
	pipeline_note_reply(run, reply);
	switch (reply->status) {
	case M2WO_API_OK:
		explain(run, "dedupe: work order %s already exists in OutSmart",
		    run->workorder_no);
		return 1;
	case M2WO_API_NOT_FOUND:
		explain(run, "dedupe: no work order %s yet", run->workorder_no);
		return 0;
	case M2WO_API_TEMPFAIL:
	case M2WO_API_REJECT:
		break;
	}
	/* A look-up OutSmart refuses is no proof either way: keep the mail. */
	g_set_error(error, M2WO_ERROR, M2WO_ERROR_TEMP, "%s", reply->reason);
	return -1;
}

/* Reads OutSmart's answer to PostWorkorders: [{workorder_no, row_id}]. */
static void
pipeline_note_created(m2wo_run_t *run, json_object *response)
{
	json_object *first = NULL, *row = NULL;

	if (json_object_is_type(response, json_type_array) &&
	    json_object_array_length(response) > 0)
		first = json_object_array_get_idx(response, 0);
	if (first != NULL && json_object_object_get_ex(first, "row_id", &row))
		run->row_id = json_object_get_int64(row);
}

/* POST PostWorkorders; 1 created, 0 refused (outcome set), -1 error. */
static int
pipeline_post(m2wo_run_t *run, GError **error)
{
	g_autoptr(m2wo_wo_text_t) body = workorder_text_new(run->workorder,
	                                                    FALSE);
	g_autoptr(m2wo_api_reply_t) reply = NULL;
	guint i;

	reply = api_post_text(run->api, "PostWorkorders", body);
	pipeline_note_reply(run, reply);
	switch (reply->status) {
	case M2WO_API_OK:
		pipeline_note_created(run, reply->response);
		explain(run, "post: created, row_id %" G_GINT64_FORMAT,
		    run->row_id);
		return 1;
	case M2WO_API_REJECT:
		for (i = 0; reply->messages != NULL &&
		    i < reply->messages->len; i++)
			explain(run, "post: OutSmart says: %s",
			    (char *)reply->messages->pdata[i]);
		pipeline_refuse(run, reply->code == 1501 ?
		    M2WO_OUTCOME_INCOMPLETE : M2WO_OUTCOME_REJECTED,
		    reply->reason, run->config->on_reject);
		return 0;
	case M2WO_API_NOT_FOUND:
	case M2WO_API_TEMPFAIL:
		break;
	}
	g_set_error(error, M2WO_ERROR, M2WO_ERROR_TEMP, "%s", reply->reason);
	return -1;
}

static gboolean pipeline_submit(m2wo_run_t *run, GError **error);

/* Opens the API client once per process; --drop reuses it. */
static gboolean
pipeline_api(m2wo_run_t *run, GError **error)
{
	if (run->offline)
		return TRUE;
	if (run->api == NULL)
		run->api = api_open(run->config, error);
	if (run->api == NULL)
		return FALSE;
	api_set_deadline(run->api, run->deadline_us);
	return TRUE;
}

/* The stages after a configuration matched. Returns FALSE with error for
 * a failure that decides the outcome; TRUE when the outcome is set. */
static gboolean
pipeline_workorder(m2wo_run_t *run, GError **error)
{
	g_autoptr(GPtrArray) missing = g_ptr_array_new();
	g_autofree char *list = NULL;
	int found;

	template_fill_params(run);
	if (regex_apply_rules(run, error) < 0)
		return FALSE;
	if (!run->offline && !pipeline_api(run, error))
		return FALSE;
	found = customer_resolve(run, error);
	if (found < 0)
		return FALSE;
	if (found == 0) {
		pipeline_refuse(run, M2WO_OUTCOME_CUSTOMER_NOT_FOUND,
		    "customer not found", run->config->on_reject);
		return TRUE;
	}
	if (!workorder_build(run, error))
		return FALSE;
	if (workorder_missing(run->workorder, run->offline, missing) > 0) {
		g_ptr_array_add(missing, NULL);
		list = g_strjoinv(",", (char **)missing->pdata);
		explain(run, "work order incomplete: missing %s", list);
		g_autofree char *reason = g_strdup_printf("missing %s", list);
		pipeline_refuse(run, M2WO_OUTCOME_INCOMPLETE, reason,
		    run->config->on_reject);
		return TRUE;
	}
	return pipeline_submit(run, error);
}

/* Dedupe, daily limit, post. */
static gboolean
pipeline_submit(m2wo_run_t *run, GError **error)
{
	int r = pipeline_dedupe(run, error);

	if (r < 0)
		return FALSE;
	if (r > 0) {
		outcome_set(run, M2WO_OUTCOME_DUPLICATE, NULL);
		return TRUE;
	}
	if (run->dry_run) {
		explain(run, "dry run: nothing posted");
		outcome_set(run, M2WO_OUTCOME_CREATED, NULL);
		return TRUE;
	}
	if (!limit_take(run, error))
		return FALSE;
	r = pipeline_post(run, error);
	if (r < 0)
		return FALSE;
	if (r > 0)
		outcome_set(run, M2WO_OUTCOME_CREATED, NULL);
	return TRUE;
}

/* Everything up to the outcome; FALSE with error when a stage failed. */
static gboolean
pipeline_stages(m2wo_run_t *run, GBytes *raw, GError **error)
{
	int matched;

	if (g_bytes_get_size(raw) > run->config->max_message_size) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_TOO_LARGE,
		    "message of %" G_GSIZE_FORMAT " bytes",
		    g_bytes_get_size(raw));
		return FALSE;
	}
	run->msg = msg_parse(raw, error);
	if (run->msg == NULL)
		return FALSE;
	explain(run, "message: From %s, subject \"%s\", key %s",
	    *run->msg->from_address ? run->msg->from_address : "(none)",
	    run->msg->subject, run->msg->message_key);
	run->autoreply_signal = classify_autoreply(run->msg, run->sender);
	if (run->autoreply_signal != NULL) {
		explain(run, "machine-generated: %s", run->autoreply_signal);
		if (run->config->on_autoreply != M2WO_POLICY_PROCESS) {
			g_autofree char *reason = g_strdup_printf(
			    "autoreply: %s", run->autoreply_signal);

			pipeline_refuse(run, M2WO_OUTCOME_DISCARDED, reason,
			    run->config->on_autoreply);
			return TRUE;
		}
	}
	matched = match_pick(run, error);
	if (matched < 0)
		return FALSE;
	if (matched == 0) {
		pipeline_refuse(run, M2WO_OUTCOME_UNMATCHED, "unmatched",
		    run->config->on_unmatched);
		return TRUE;
	}
	return pipeline_workorder(run, error);
}

/* Whether an outcome is a refusal that on_reject decides about. */
static gboolean
pipeline_is_reject(m2wo_outcome_t outcome)
{
	return outcome == M2WO_OUTCOME_CUSTOMER_NOT_FOUND ||
	    outcome == M2WO_OUTCOME_INCOMPLETE ||
	    outcome == M2WO_OUTCOME_REJECTED;
}

int
pipeline_run(m2wo_run_t *run, GBytes *raw)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *reason = NULL;

	run_clear_message(run);
	run->raw = g_bytes_ref(raw);
	if (run->api != NULL)
		api_set_deadline(run->api, run->deadline_us);
	if (pipeline_stages(run, raw, &error))
		return outcome_exit_code(run->outcome);
	/* A request that failed because the run's time was up is the
	 * deadline's doing, whatever the transport said. */
	if (g_error_matches(error, M2WO_ERROR, M2WO_ERROR_TEMP) &&
	    g_get_monotonic_time() >= run->deadline_us)
		error->code = M2WO_ERROR_DEADLINE;
	outcome_from_error(run, error);
	explain(run, "outcome %s: %s", outcome_to_string(run->outcome),
	    run->reason != NULL ? run->reason : "-");
	/* Bouncing keeps the outcome's own DSN text ("message has no
	 * headers"); only the other policies change it. */
	if (pipeline_is_reject(run->outcome) &&
	    run->config->on_reject != M2WO_POLICY_BOUNCE) {
		reason = g_strdup(run->reason);
		pipeline_refuse(run, run->outcome, reason,
		    run->config->on_reject);
	}
	return outcome_exit_code(run->outcome);
}
