/*
 * custrule.c: the customer rules of SPEC 3.5 and their table, which
 * customer_rules names. OutSmart only filters with SQL-like operators, so
 * every rule asks broadly through customer.c and custfold.c decides exactly.
 * A rule never guesses: two candidates make no relation, and an API failure
 * is an error, never "not found".
 */
#include <string.h>

#include "m2wo.h"

/* Looks pattern up in email and in email_workorder, and takes the one
 * relation whose field holds the address want (or, by_domain, an address
 * at the domain want). */
static int customer_by_email_fields(m2wo_run_t *run, const char *pattern,
                                    const char *want, gboolean by_domain,
                                    GError **error)
{
	static const char *const fields[] = { "email", "email_workorder" };
	g_autoptr(GPtrArray) hits = customer_hits_new();
	json_object *found = NULL;
	customer_scan_t scan = {
		"relations", NULL, "li", pattern, "debtor_number", "name",
		custfold_test_email, { want, by_domain ? "domain" : NULL, NULL },
	};
	guint i;

	for (i = 0; i < G_N_ELEMENTS(fields); i++) {
		scan.key = fields[i];
		if (customer_scan(run, &scan, hits, error) < 0)
			return -1;
	}
	if (customer_take(run, hits, &scan, &found) == 0)
		return 0;
	customer_set_relation(run, found);
	return 1;
}

static int customer_by_address(m2wo_run_t *run, const char *text, const char *what,
                               GError **error)
{
	g_autofree char *want = custfold_address(text);
	g_autofree char *literal = NULL, *pattern = NULL;

	if (want == NULL) {
		g_autofree char *shown = customer_quoted(text);

		explain(run, "  %s %s is no e-mail address", what, shown);
		return 0;
	}
	literal = customer_like_literal(want);
	/* "%...%" also finds the address inside a list of addresses. */
	pattern = g_strconcat("%", literal, "%", NULL);
	return customer_by_email_fields(run, pattern, want, FALSE, error);
}

static int rule_email(m2wo_run_t *run, GError **error)
{
	const char *from = customer_from(run);
	const char *alt = customer_param(run, "customer_email");
	g_autofree char *from_folded = custfold_address(from);
	g_autofree char *alt_folded = custfold_address(alt);
	int rc = 0;

	if (*from != '\0')
		rc = customer_by_address(run, from, "the From address", error);
	else
		explain(run, "  the message has no From address");
	if (rc != 0)
		return rc;
	if (*alt == '\0') {
		explain(run, "  no {customer_email} value to try");
		return 0;
	}
	if (from_folded != NULL && alt_folded != NULL && strcmp(from_folded, alt_folded) == 0)
		return 0;
	explain(run, "  trying {customer_email}");
	return customer_by_address(run, alt, "{customer_email}", error);
}

static int rule_domain(m2wo_run_t *run, GError **error)
{
	g_autofree char *from = custfold_address(customer_from(run));
	g_autofree char *literal = NULL, *pattern = NULL;

	if (from == NULL) {
		explain(run, "  the message has no usable From address");
		return 0;
	}
	literal = customer_like_literal(custfold_domain(from));
	pattern = g_strconcat("%@", literal, "%", NULL);
	return customer_by_email_fields(run, pattern, custfold_domain(from), TRUE, error);
}

/* "%7%0%1%...%7%": matches any spelling that holds the last nine digits
 * in order, whatever spaces, dashes or prefixes sit between them. */
static char *phone_pattern(const char *folded)
{
	const char *digits = folded[0] == '+' ? folded + 1 : folded;
	gsize len = strlen(digits);
	GString *out = g_string_new("%");
	const char *p;

	for (p = digits + (len > 9 ? len - 9 : 0); *p != '\0'; p++)
		g_string_append_printf(out, "%c%%", *p);
	return g_string_free(out, FALSE);
}

static int rule_phone(m2wo_run_t *run, GError **error)
{
	g_autofree char *phone = custfold_phone_first(customer_param(run, "customer_phone"));
	g_autofree char *want = custfold_phone(phone);
	g_autofree char *pattern = NULL;
	g_autoptr(GPtrArray) hits = customer_hits_new();
	json_object *found = NULL;
	customer_scan_t scan = {
		"relations", "phone_number", "li", NULL, "debtor_number", "name",
		custfold_test_phone, { want, NULL, NULL },
	};

	if (strlen(want) < 6) {
		g_autofree char *shown = customer_quoted(phone);

		explain(run, "  no usable phone number in {customer_phone} %s", shown);
		return 0;
	}
	pattern = phone_pattern(want);
	scan.pattern = pattern;
	if (customer_scan(run, &scan, hits, error) < 0)
		return -1;
	if (customer_take(run, hits, &scan, &found) == 0)
		return 0;
	customer_set_relation(run, found);
	return 1;
}

/* "2586%JK": the runs of digits and letters joined by "%", so that the
 * service finds "2586JK", "2586 JK" and "2586-jk" alike. */
static char *zip_pattern(const char *folded)
{
	GString *out = g_string_new(NULL);
	const char *p;

	for (p = folded; *p != '\0'; p++) {
		if (p > folded && !!g_ascii_isdigit(*p) != !!g_ascii_isdigit(p[-1]))
			g_string_append_c(out, '%');
		g_string_append_c(out, *p);
	}
	return g_string_free(out, FALSE);
}

/* Fills a street scan from {customer_zip} and {customer_street}; FALSE
 * (explained) when there is not enough to look for. */
static gboolean street_scan_prepare(m2wo_run_t *run, customer_scan_t *scan,
                                    char **zip, char **name, char **number)
{
	g_autofree char *raw_name = NULL, *raw_number = NULL;
	const char *street = customer_param(run, "customer_street");

	*zip = custfold_zip(customer_param(run, "customer_zip"));
	custfold_street_split(street, &raw_name, &raw_number);
	*name = custfold_text(raw_name);
	*number = custfold_number(raw_number);
	if (**zip == '\0') {
		explain(run, "  no {customer_zip} value");
		return FALSE;
	}
	if (**number == '\0') {
		g_autofree char *shown = customer_quoted(street);

		explain(run, "  no house number in {customer_street} %s", shown);
		return FALSE;
	}
	scan->want[0] = *zip;
	scan->want[1] = *name;
	scan->want[2] = *number;
	return TRUE;
}

/* Looks the street of {customer_street} up at {customer_zip} in scan's
 * endpoint: 1 with *found (owned), 0 when none or several, -1 on error. */
static int street_find(m2wo_run_t *run, customer_scan_t *scan,
                       json_object **found, GError **error)
{
	g_autofree char *zip = NULL, *name = NULL, *number = NULL, *pattern = NULL;
	g_autoptr(GPtrArray) hits = customer_hits_new();

	if (!street_scan_prepare(run, scan, &zip, &name, &number))
		return 0;
	pattern = zip_pattern(zip);
	scan->pattern = pattern;
	if (customer_scan(run, scan, hits, error) < 0)
		return -1;
	return customer_take(run, hits, scan, found);
}

static int rule_street(m2wo_run_t *run, GError **error)
{
	json_object *found = NULL;
	customer_scan_t scan = {
		"relations", "postal_code", "li", NULL, "debtor_number", "name",
		custfold_test_street, { NULL, NULL, NULL },
	};
	int rc = street_find(run, &scan, &found, error);

	if (rc == 1)
		customer_set_relation(run, found);
	return rc;
}

/* Takes the relation with debtor number number, when there is one. */
static int customer_take_debtor(m2wo_run_t *run, const char *number,
                                GError **error)
{
	json_object *found = NULL;
	int rc = customer_by_debtor(run, number, &found, error);

	if (rc == 1)
		customer_set_relation(run, found);
	return rc;
}

static int rule_debtor_number(m2wo_run_t *run, GError **error)
{
	const char *number = customer_param(run, "debtor_number");

	if (*number == '\0') {
		explain(run, "  no {debtor_number} value");
		return 0;
	}
	return customer_take_debtor(run, number, error);
}

/* Takes the relation a found address or object names. */
static int customer_owner(m2wo_run_t *run, json_object *rec, const char *field,
                          GError **error)
{
	const char *number = custfold_field(rec, field);

	if (*number == '\0') {
		explain(run, "  it names no relation (%s is empty)", field);
		return 0;
	}
	explain(run, "  it belongs to relation %s", number);
	return customer_take_debtor(run, number, error);
}

static int rule_address(m2wo_run_t *run, GError **error)
{
	g_autoptr(json_object) address = NULL;
	customer_scan_t scan = {
		"addresses", "adr_zip", "li", NULL, "adr_code", "adr_line_1",
		custfold_test_street, { NULL, NULL, NULL },
	};
	int rc = street_find(run, &scan, &address, error);

	if (rc != 1)
		return rc;
	rc = customer_owner(run, address, "adr_debtor_nr", error);
	if (rc == 1) {
		g_free(run->adr_code);
		run->adr_code = g_strdup(custfold_field(address, "adr_code"));
		explain(run, "  AdrCode %s", run->adr_code);
	}
	return rc;
}

static void customer_add_object(m2wo_run_t *run, const char *code)
{
	guint i;

	if (run->work_objects == NULL)
		run->work_objects = g_ptr_array_new_with_free_func(g_free);
	for (i = 0; i < run->work_objects->len; i++)
		if (strcmp(run->work_objects->pdata[i], code) == 0)
			return;
	g_ptr_array_add(run->work_objects, g_strdup(code));
	explain(run, "  object %s added to WorkObjects", code);
}

static int rule_object(m2wo_run_t *run, GError **error)
{
	const char *code = customer_param(run, "obj_code");
	g_autofree char *pattern = customer_like_literal(code);
	g_autofree char *want = custfold_text(code);
	g_autoptr(GPtrArray) hits = customer_hits_new();
	g_autoptr(json_object) object = NULL;
	customer_scan_t scan = {
		"objects", "obj_code", "li", pattern, "obj_code", "obj_description",
		custfold_test_key, { want, code, NULL },
	};

	if (*want == '\0') {
		explain(run, "  no {obj_code} value");
		return 0;
	}
	if (customer_scan(run, &scan, hits, error) < 0)
		return -1;
	if (customer_take(run, hits, &scan, &object) == 0)
		return 0;
	/* The object is right even when its relation is not found: a later
	 * rule may still find the customer. */
	customer_add_object(run, custfold_field(object, "obj_code"));
	return customer_owner(run, object, "obj_debiteur_nummer", error);
}

static const m2wo_customer_rule_t customer_rules[] = {
	{ "FindOrAddRelationByEmail", rule_email,
	  "relation whose email or email_workorder is the From address, else {customer_email}" },
	{ "FindOrAddRelationByDomain", rule_domain,
	  "relation whose email or email_workorder is at the From address's domain" },
	{ "FindOrAddRelationByPhone", rule_phone,
	  "relation whose phone_number is the number in {customer_phone}" },
	{ "FindOrAddRelationByStreet", rule_street,
	  "relation at postcode {customer_zip} and street and house number {customer_street}" },
	{ "FindOrAddRelationByDebtorNumber", rule_debtor_number,
	  "relation whose debtor_number is {debtor_number}" },
	{ "FindOrAddAddress", rule_address,
	  "address at {customer_zip} and {customer_street}, and the relation it belongs to" },
	{ "SearchObject", rule_object,
	  "object {obj_code}, and the relation it belongs to" },
};

const m2wo_customer_rule_t *customer_rule_lookup(const char *name)
{
	guint i;

	for (i = 0; i < G_N_ELEMENTS(customer_rules); i++)
		if (g_ascii_strcasecmp(customer_rules[i].name, name) == 0)
			return &customer_rules[i];
	return NULL;
}
