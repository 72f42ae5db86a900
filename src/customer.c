/*
 * customer.c: finds the OutSmart relation (customer) of a message in the
 * order of SPEC 3.5: forced_debtor_number, the rules of custrule.c, then
 * create_relation (relation.c); here too the look-ups the rules share.
 * It never guesses: two candidate relations make no relation, and an API
 * failure is an error, never "not found".
 */
#include <string.h>

#include "m2wo.h"

/* At most this many records of one answer are described in --explain. */
#define CUSTOMER_EXPLAIN_RECORDS 10

/* ------------------------------------------------------------ helpers */

/* A regex value for a look-up; "" when absent or too long to be what a
 * rule looks for (it would only make a URL that the service refuses). */
const char *customer_param(m2wo_run_t *run, const char *name)
{
	const char *value = NULL;

	if (run->params != NULL)
		value = g_hash_table_lookup(run->params, name);
	if (value == NULL)
		return "";
	if (strlen(value) > M2WO_MAX_LOOKUP_VALUE) {
		explain(run, "  {%s} is longer than %d bytes: not used", name,
		        M2WO_MAX_LOOKUP_VALUE);
		return "";
	}
	return value;
}

const char *customer_from(const m2wo_run_t *run)
{
	if (run->msg == NULL || run->msg->from_address == NULL)
		return "";
	return run->msg->from_address;
}

/* A value for a LIKE filter that matches at least text: the wildcards and
 * the escape character in it become "_" (any one character), so that the
 * query works whether or not the service honours LIKE escapes. The exact
 * decision is made on the records that come back. */
char *customer_like_literal(const char *text)
{
	char *out = g_strdup(text);
	char *p;

	for (p = out; *p != '\0'; p++)
		if (*p == '%' || *p == '_' || *p == '\\')
			*p = '_';
	return out;
}

/* Quotes a value from the message for --explain: one line, bounded. */
char *customer_quoted(const char *text)
{
	g_autofree char *valid = g_utf8_make_valid(text, -1);
	GString *out = g_string_new("\"");
	const char *p;
	guint n = 0;

	for (p = valid; *p != '\0' && n < 80; p = g_utf8_next_char(p), n++) {
		gunichar c = g_utf8_get_char(p);

		if (g_unichar_iscntrl(c))
			g_string_append_c(out, ' ');
		else
			g_string_append_unichar(out, c);
	}
	g_string_append(out, *p != '\0' ? "...\"" : "\"");
	return g_string_free(out, FALSE);
}

static char *rec_label(json_object *rec, const char *id_field, const char *label_field)
{
	g_autofree char *label = customer_quoted(custfold_field(rec, label_field));

	return g_strdup_printf("%s %s", custfold_field(rec, id_field), label);
}

/* ----------------------------------------------------------- the API */

static gboolean customer_api(m2wo_run_t *run, GError **error)
{
	if (run->api != NULL)
		return TRUE;
	run->api = api_open(run->config, error);
	if (run->api == NULL)
		return FALSE;
	if (run->deadline_us != 0)
		api_set_deadline(run->api, run->deadline_us);
	return TRUE;
}

/* The records of a look-up answer as a new array reference; NULL when the
 * answer is no list of records. */
static json_object *customer_records(const m2wo_api_reply_t *reply)
{
	json_object *list;

	if (reply->status == M2WO_API_NOT_FOUND || reply->response == NULL)
		return json_object_new_array();
	if (json_object_is_type(reply->response, json_type_array))
		return json_object_get(reply->response);
	if (!json_object_is_type(reply->response, json_type_object))
		return NULL;
	list = json_object_new_array();
	json_object_array_add(list, json_object_get(reply->response));
	return list;
}

/* GET with one filter. 0 with *records set, or -1: M2WO_ERROR_TEMP for
 * anything that may pass, M2WO_ERROR_REJECT for a refused look-up. */
static int customer_query(m2wo_run_t *run, const customer_scan_t *scan,
                          json_object **records, GError **error)
{
	g_autoptr(m2wo_api_reply_t) reply = NULL;
	g_autofree char *shown = customer_quoted(scan->pattern);
	size_t n;

	reply = api_get(run->api, scan->endpoint, &scan->key, &scan->pattern, &scan->op, 1);
	run->api_code = reply->code;
	run->http_status = reply->http;
	*records = NULL;
	if (reply->status == M2WO_API_OK || reply->status == M2WO_API_NOT_FOUND)
		*records = customer_records(reply);
	if (*records == NULL) {
		const char *reason = reply->status == M2WO_API_OK
			? "OutSmart API answered garbage" : reply->reason;

		explain(run, "  GET %s %s %s %s: %s", scan->endpoint, scan->key, scan->op,
		        shown, reason);
		g_set_error_literal(error, M2WO_ERROR, reply->status == M2WO_API_REJECT
		                    ? M2WO_ERROR_REJECT : M2WO_ERROR_TEMP, reason);
		return -1;
	}
	n = json_object_array_length(*records);
	explain(run, "  GET %s %s %s %s: %zu record%s", scan->endpoint, scan->key,
	        scan->op, shown, n, n == 1 ? "" : "s");
	return 0;
}

static gboolean hits_contain(GPtrArray *hits, json_object *rec, const char *id_field)
{
	guint i;

	for (i = 0; i < hits->len; i++)
		if (custfold_equal(custfold_field(hits->pdata[i], id_field), custfold_field(rec, id_field)))
			return TRUE;
	return FALSE;
}

/* Runs one look-up and adds the records that pass the exact test to hits
 * (json_object references, one per distinct id). */
int customer_scan(m2wo_run_t *run, const customer_scan_t *scan,
                  GPtrArray *hits, GError **error)
{
	g_autoptr(json_object) records = NULL;
	size_t i, n;

	if (customer_query(run, scan, &records, error) < 0)
		return -1;
	n = json_object_array_length(records);
	for (i = 0; i < n; i++) {
		json_object *rec = json_object_array_get_idx(records, i);
		g_autoptr(GString) why = g_string_new(NULL);
		gboolean yes;

		if (!json_object_is_type(rec, json_type_object))
			continue;
		yes = scan->test(scan, rec, why);
		if (i < CUSTOMER_EXPLAIN_RECORDS) {
			g_autofree char *label = rec_label(rec, scan->id_field, scan->label_field);

			explain(run, "    %s: %s: %s", label, why->str, yes ? "match" : "no match");
		} else if (i == CUSTOMER_EXPLAIN_RECORDS) {
			explain(run, "    (%zu more records not shown)", n - i);
		}
		if (yes && !hits_contain(hits, rec, scan->id_field))
			g_ptr_array_add(hits, json_object_get(rec));
	}
	return 0;
}

static void hit_free(gpointer rec)
{
	json_object_put(rec);
}

GPtrArray *customer_hits_new(void)
{
	return g_ptr_array_new_with_free_func(hit_free);
}

/* "relations" -> "relation", for --explain. */
static const char *customer_noun(const char *endpoint)
{
	if (strcmp(endpoint, "addresses") == 0)
		return "address";
	if (strcmp(endpoint, "objects") == 0)
		return "object";
	return "relation";
}

/* Exactly one hit: *found gets a reference and the result is 1. None or
 * several (ambiguous): 0, explained. */
int customer_take(m2wo_run_t *run, GPtrArray *hits, const customer_scan_t *scan,
                  json_object **found)
{
	g_autoptr(GString) list = g_string_new(NULL);
	guint i;

	if (hits->len == 1) {
		*found = json_object_get(hits->pdata[0]);
		return 1;
	}
	if (hits->len == 0) {
		explain(run, "  no %s matches", customer_noun(scan->endpoint));
		return 0;
	}
	for (i = 0; i < hits->len; i++)
		g_string_append_printf(list, "%s%s", i ? ", " : "",
		                       custfold_field(hits->pdata[i], scan->id_field));
	explain(run, "  ambiguous: %u %s match (%s), so none counts",
	        hits->len, scan->endpoint, list->str);
	return 0;
}

void customer_set_relation(m2wo_run_t *run, json_object *relation)
{
	g_clear_pointer(&run->relation, json_object_put);
	run->relation = relation;
}

/* The relation with debtor number number: -1/0/1, *relation referenced.
 * It asks with "li" rather than "eq": eq may compare case-sensitively
 * (MySQL does not, the simulator does), and li without wildcards finds
 * every spelling, among which the test decides. */
int customer_by_debtor(m2wo_run_t *run, const char *number,
                       json_object **relation, GError **error)
{
	g_autofree char *pattern = customer_like_literal(number);
	g_autofree char *want = custfold_text(number);
	g_autoptr(GPtrArray) hits = customer_hits_new();
	customer_scan_t scan = {
		"relations", "debtor_number", "li", pattern, "debtor_number", "name",
		custfold_test_key, { want, number, NULL },
	};

	if (customer_scan(run, &scan, hits, error) < 0)
		return -1;
	return customer_take(run, hits, &scan, relation);
}

/* ------------------------------------------------------------ resolve */

/* The relation of debtor_number_invoice, when the relation names another
 * one; else the relation itself. */
static int customer_invoice(m2wo_run_t *run, GError **error)
{
	const char *own = custfold_field(run->relation, "debtor_number");
	const char *other = custfold_field(run->relation, "debtor_number_invoice");
	json_object *found = NULL;
	int rc;

	g_clear_pointer(&run->invoice_relation, json_object_put);
	if (*other == '\0' || custfold_equal(own, other)) {
		run->invoice_relation = json_object_get(run->relation);
		return 1;
	}
	explain(run, "customer: invoices go to relation %s (debtor_number_invoice)", other);
	rc = customer_by_debtor(run, other, &found, error);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		explain(run, "  relation %s not found: the relation itself is the invoice customer",
		        other);
		found = json_object_get(run->relation);
	}
	run->invoice_relation = found;
	return 1;
}

/* forced_debtor_number: -1 error, 0 not found, 1 found, 2 not in use. */
static int customer_forced(m2wo_run_t *run, GError **error)
{
	g_autofree char *number = NULL;
	json_object *found = NULL;
	int rc;

	if (run->conf->forced_debtor_number == NULL)
		return 2;
	number = template_expand(run->conf->forced_debtor_number, run->params, error);
	if (number == NULL)
		return -1;
	g_strstrip(number);
	if (*number == '\0') {
		explain(run, "customer: forced_debtor_number is empty for this message; "
		        "trying the customer rules");
		return 2;
	}
	explain(run, "customer: forced_debtor_number %s (customer rules skipped)", number);
	rc = customer_by_debtor(run, number, &found, error);
	if (rc == 0)
		explain(run, "customer: no single relation %s in OutSmart", number);
	if (rc != 1)
		return rc;
	customer_set_relation(run, found);
	/* The forced relation is also the invoice customer (SPEC 3.2). */
	g_clear_pointer(&run->invoice_relation, json_object_put);
	run->invoice_relation = json_object_get(found);
	return 1;
}

static int customer_rules_run(m2wo_run_t *run, GError **error)
{
	GPtrArray *rules = run->conf->customer_rules;
	guint i;

	for (i = 0; rules != NULL && i < rules->len; i++) {
		const m2wo_customer_rule_t *rule = rules->pdata[i];
		int rc;

		explain(run, "customer: rule %s: %s", rule->name, rule->describe);
		rc = rule->find(run, error);
		if (rc != 0)
			return rc;
		explain(run, "  %s found no relation", rule->name);
	}
	if (rules == NULL || rules->len == 0)
		explain(run, "customer: no customer_rules configured");
	return 0;
}

static void customer_explain_found(m2wo_run_t *run)
{
	g_autofree char *label = rec_label(run->relation, "debtor_number", "name");

	explain(run, "customer: relation %s", label);
}

int customer_resolve(m2wo_run_t *run, GError **error)
{
	int rc;

	if (run->offline) {
		explain(run, "customer: offline: customer look-ups skipped");
		return 1;
	}
	if (!customer_api(run, error))
		return -1;
	g_clear_pointer(&run->relation, json_object_put);
	g_clear_pointer(&run->invoice_relation, json_object_put);
	rc = customer_forced(run, error);
	if (rc == 1)
		customer_explain_found(run);
	if (rc != 2)
		return rc;
	rc = customer_rules_run(run, error);
	if (rc == 0 && run->conf->create_relation)
		rc = customer_create(run, error);
	else if (rc == 0)
		explain(run, "customer: not found, and create_relation is off");
	if (rc != 1)
		return rc;
	customer_explain_found(run);
	return customer_invoice(run, error);
}
