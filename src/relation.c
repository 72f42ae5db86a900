/*
 * relation.c: creates the relation of a message when no customer rule found
 * one and create_relation is on (SPEC 3.5). It never makes a second relation
 * for one person: a retry finds what the first run created. It never creates
 * a relation without name, street, postcode and city, nor posts in a dry run.
 */
#include <string.h>

#include "m2wo.h"

/* "M2WO-" and the message-key digest of the folded address, so that every
 * mail of one person names the same relation. */
static char *customer_sender_debtor(const char *folded)
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	char key[M2WO_MESSAGE_KEY_LEN + 1];

	g_checksum_update(sum, (const guchar *) folded, -1);
	msg_key_digest(sum, key);
	return g_strconcat("M2WO-", key, NULL);
}

static void relation_put(json_object *rel, const char *field, const char *value)
{
	if (value != NULL && *value != '\0')
		json_object_object_add(rel, field, json_object_new_string(value));
}

/* Who the new relation is: the {customer_email} a rule extracted, else a
 * Reply-To other than From, else From. A web form sends every request
 * from one address of its own; keying on From would make all its
 * customers one relation. *name is the From display name only when the
 * address is From's (a form's "Webformulier" is nobody's name). */
static char *customer_person(m2wo_run_t *run, const char **name)
{
	g_autofree char *from = custfold_address(customer_from(run));
	char *extracted = custfold_address(customer_param(run, "customer_email"));
	char *reply = run->msg && run->msg->reply_to ?
	    custfold_address(run->msg->reply_to) : NULL;

	*name = "";
	if (extracted != NULL) {
		g_free(reply);
		return extracted;
	}
	if (reply != NULL && g_strcmp0(reply, from) != 0)
		return reply;
	g_free(reply);
	if (run->msg != NULL && run->msg->from_name != NULL)
		*name = run->msg->from_name;
	return g_steal_pointer(&from);
}

/* The relation create_relation would post, from the person and the regex
 * values. The name is the person's display name, else {customer_name},
 * else the address's local part. */
static json_object *relation_build(m2wo_run_t *run, const char *address,
                                   const char *display, const char *debtor)
{
	g_autofree char *local = g_strndup(address, strcspn(address, "@"));
	g_autofree char *street = NULL, *number = NULL;
	g_autofree char *person = g_strstrip(g_strdup(display));
	g_autofree char *phone = custfold_phone_first(customer_param(run, "customer_phone"));
	json_object *rel = json_object_new_object();

	if (*person == '\0') {
		g_free(person);
		person = g_strdup(customer_param(run, "customer_name"));
	}
	custfold_street_split(customer_param(run, "customer_street"), &street, &number);
	relation_put(rel, "name", *person ? person : local);
	relation_put(rel, "debtor_number", debtor);
	relation_put(rel, "email", address);
	relation_put(rel, "contact", person);
	relation_put(rel, "phone_number", g_strstrip(phone));
	relation_put(rel, "street", street);
	relation_put(rel, "house_number", number);
	relation_put(rel, "postal_code", customer_param(run, "customer_zip"));
	relation_put(rel, "city", customer_param(run, "customer_city"));
	return rel;
}

/* Names the required relation fields that rel lacks; TRUE when none. */
static gboolean relation_complete(m2wo_run_t *run, json_object *rel)
{
	static const char *const required[] = { "name", "street", "postal_code", "city" };
	g_autoptr(GString) missing = g_string_new(NULL);
	guint i;

	for (i = 0; i < G_N_ELEMENTS(required); i++)
		if (*custfold_field(rel, required[i]) == '\0')
			g_string_append_printf(missing, "%s%s", missing->len ? ", " : "", required[i]);
	if (missing->len == 0)
		return TRUE;
	explain(run, "  cannot create a relation: no %s (from the sender and the regex "
	        "rules customer_street, customer_zip, customer_city)", missing->str);
	return FALSE;
}

static int customer_post_relation(m2wo_run_t *run, json_object *rel, const char *debtor,
                                  GError **error)
{
	g_autoptr(json_object) body = json_object_new_array();
	g_autoptr(m2wo_api_reply_t) reply = NULL;
	guint i;

	json_object_array_add(body, json_object_get(rel));
	reply = api_post(run->api, "relations", body);
	run->api_code = reply->code;
	run->http_status = reply->http;
	if (reply->status == M2WO_API_OK) {
		explain(run, "  POST relations: created relation %s", debtor);
		return 1;
	}
	explain(run, "  POST relations: %s", reply->reason);
	if (reply->status == M2WO_API_TEMPFAIL) {
		g_set_error_literal(error, M2WO_ERROR, M2WO_ERROR_TEMP, reply->reason);
		return -1;
	}
	/* 1300/1301: OutSmart will not take this relation; a retry would not
	 * change its mind, so the customer is not found. */
	for (i = 0; i < reply->messages->len; i++)
		explain(run, "  OutSmart says: %s", (char *) reply->messages->pdata[i]);
	return 0;
}

int customer_create(m2wo_run_t *run, GError **error)
{
	const char *display = NULL;
	g_autofree char *person = customer_person(run, &display);
	g_autofree char *debtor = NULL;
	g_autoptr(json_object) rel = NULL;
	json_object *existing = NULL;
	int rc;

	explain(run, "customer: no rule found a relation, and create_relation is on");
	if (person == NULL) {
		explain(run, "  cannot create a relation: no usable address in "
		        "{customer_email}, Reply-To or From");
		return 0;
	}
	explain(run, "  the new relation is %s", person);
	debtor = customer_sender_debtor(person);
	rel = relation_build(run, person, display, debtor);
	if (!relation_complete(run, rel))
		return 0;
	/* A retry of the same mail finds what the first run created. */
	rc = customer_by_debtor(run, debtor, &existing, error);
	if (rc == 1) {
		explain(run, "  relation %s exists already (created for this sender before)", debtor);
		customer_set_relation(run, existing);
	}
	if (rc != 0)
		return rc;
	if (run->dry_run) {
		explain(run, "  would create relation %s (dry run: nothing is posted): %s", debtor,
		        json_object_to_json_string_ext(rel, JSON_C_TO_STRING_PLAIN
		                                       | JSON_C_TO_STRING_NOSLASHESCAPE));
		customer_set_relation(run, g_steal_pointer(&rel));
		return 1;
	}
	rc = customer_post_relation(run, rel, debtor, error);
	if (rc == 1)
		customer_set_relation(run, g_steal_pointer(&rel));
	return rc;
}
