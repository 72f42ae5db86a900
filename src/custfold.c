/*
 * custfold.c: how the customer rules compare a field of an OutSmart record
 * with a value from the message: e-mail addresses, phone numbers, postcodes
 * with street and house number, and exact keys, each folded to one spelling.
 * It never asks the API and never picks a relation: a test only says whether
 * one record is what a rule looks for, and why.
 */
#include <string.h>

#include "m2wo.h"

/* A record's field as text ("" when absent); numbers become digits. */
const char *custfold_field(json_object *rec, const char *field)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(rec, field, &value) || value == NULL)
		return "";
	return json_object_get_string(value);
}

/* Unicode-normalised, case-folded, white space collapsed and trimmed. */
char *custfold_text(const char *text)
{
	g_autofree char *valid = g_utf8_make_valid(text, -1);
	g_autofree char *norm = g_utf8_normalize(valid, -1, G_NORMALIZE_ALL_COMPOSE);
	g_autofree char *folded = g_utf8_casefold(norm ? norm : valid, -1);
	g_auto(GStrv) words = g_strsplit_set(folded, " \t\r\n", -1);
	GString *out = g_string_new(NULL);
	guint i;

	for (i = 0; words[i] != NULL; i++) {
		if (*words[i] == '\0')
			continue;
		if (out->len > 0)
			g_string_append_c(out, ' ');
		g_string_append(out, words[i]);
	}
	return g_string_free(out, FALSE);
}

gboolean custfold_equal(const char *a, const char *b)
{
	g_autofree char *x = custfold_text(a);
	g_autofree char *y = custfold_text(b);

	return strcmp(x, y) == 0;
}

/* ------------------------------------------------------------ e-mail */

/* The addr-spec of "Name <a@b>", "mailto:a@b" or "a@b", case-folded;
 * NULL when it is not an address. */
char *custfold_address(const char *text)
{
	const char *lt = strrchr(text, '<');
	g_autofree char *addr = NULL;
	char *at;

	if (lt != NULL && strchr(lt, '>') != NULL)
		addr = g_strndup(lt + 1, strchr(lt, '>') - lt - 1);
	else
		addr = g_strdup(text);
	g_strstrip(addr);
	if (g_ascii_strncasecmp(addr, "mailto:", 7) == 0)
		memmove(addr, addr + 7, strlen(addr + 7) + 1);
	at = strrchr(addr, '@');
	if (at == NULL || at == addr || at[1] == '\0' || strpbrk(addr, " \t,;") != NULL)
		return NULL;
	return custfold_text(addr);
}

const char *custfold_domain(const char *folded)
{
	return strrchr(folded, '@') + 1;
}

/* Whether a stored e-mail field (one address or a list) holds want: the
 * whole address, or with want[1] set, any address at the domain want. */
gboolean custfold_test_email(const customer_scan_t *scan, json_object *rec, GString *why)
{
	const char *field = custfold_field(rec, scan->key);
	g_auto(GStrv) items = g_strsplit_set(field, ",; \t\r\n", -1);
	gboolean by_domain = scan->want[1] != NULL;
	guint i;

	for (i = 0; items[i] != NULL; i++) {
		g_autofree char *addr = custfold_address(items[i]);

		if (addr == NULL)
			continue;
		if (by_domain ? strcmp(custfold_domain(addr), scan->want[0]) == 0
		              : strcmp(addr, scan->want[0]) == 0) {
			g_string_append_printf(why, "%s %s is %s%s", scan->key, items[i],
			                       by_domain ? "at " : "", scan->want[0]);
			return TRUE;
		}
	}
	g_string_append_printf(why, "%s \"%s\" is not %s%s", scan->key, field,
	                       by_domain ? "at " : "", scan->want[0]);
	return FALSE;
}

/* ------------------------------------------------------------ phone */

/* The national significant number of a Dutch phone number in any spelling
 * ("+31 (0)70-123 45 67", "0031 70 1234567", "070 1234567" all give
 * "701234567"); a foreign number keeps its country code after a "+". */
char *custfold_phone(const char *text)
{
	GString *digits = g_string_new(NULL);
	gboolean intl = FALSE;
	const char *p, *d;
	char *out;

	for (p = text; *p != '\0'; p++) {
		if (g_ascii_isdigit(*p))
			g_string_append_c(digits, *p);
		else if (*p == '+' && digits->len == 0)
			intl = TRUE;
	}
	d = digits->str;
	if (!intl && g_str_has_prefix(d, "00")) {
		intl = TRUE;
		d += 2;
	}
	if (intl && g_str_has_prefix(d, "31")) {
		intl = FALSE;
		d += 2;
	}
	while (!intl && *d == '0')
		d++;   /* the trunk prefix, also written "(0)" after +31 */
	out = g_strconcat(intl ? "+" : "", d, NULL);
	g_string_free(digits, TRUE);
	return out;
}

/* The first of several numbers ("010-1234567 / 06-12345678"). */
char *custfold_phone_first(const char *text)
{
	return g_strndup(text, strcspn(text, "/,;"));
}

gboolean custfold_test_phone(const customer_scan_t *scan, json_object *rec, GString *why)
{
	const char *field = custfold_field(rec, "phone_number");
	g_auto(GStrv) items = g_strsplit_set(field, "/,;", -1);
	guint i;

	for (i = 0; items[i] != NULL; i++) {
		g_autofree char *number = custfold_phone(items[i]);

		if (*number != '\0' && strcmp(number, scan->want[0]) == 0) {
			g_string_append_printf(why, "phone_number \"%s\" is the same number", field);
			return TRUE;
		}
	}
	g_string_append_printf(why, "phone_number \"%s\" is another number", field);
	return FALSE;
}

/* ------------------------------------------------------------ street */

/* Postcode without spaces or dashes, case-folded: "2586 jk" = "2586JK". */
char *custfold_zip(const char *text)
{
	GString *out = g_string_new(NULL);
	const char *p;

	for (p = text; *p != '\0'; p++)
		if (g_ascii_isalnum(*p))
			g_string_append_c(out, g_ascii_toupper(*p));
	return g_string_free(out, FALSE);
}

/* A house number: digits first, then at most a short addition
 * ("12", "12A", "12 a", "1-3", "12-14 bis"). */
static gboolean street_number_shaped(const char *text)
{
	const char *p = text;

	while (g_ascii_isdigit(*p))
		p++;
	if (p == text || strlen(p) > 8)
		return FALSE;
	for (; *p != '\0'; p++)
		if (!g_ascii_isalnum(*p) && *p != ' ' && *p != '-' && *p != '/')
			return FALSE;
	return TRUE;
}

/* Splits "Laan van Meerdervoort 1-3" into street and house number at the
 * first blank after which only a house number follows, so that names with
 * digits ("2e Hugo de Grootstraat 5") stay whole and additions ("12 a")
 * stay with the number. Either part may come back "". */
void custfold_street_split(const char *text, char **name, char **number)
{
	g_autofree char *s = g_strstrip(g_strdup(text));
	const char *cut = NULL, *p;

	for (p = s; *p != '\0' && cut == NULL; p++)
		if (g_ascii_isdigit(*p) && (p == s || p[-1] == ' ' || p[-1] == ',')
		    && street_number_shaped(p))
			cut = p;
	if (cut == NULL) {
		*name = g_strdup(s);
		*number = g_strdup("");
		return;
	}
	*name = g_strndup(s, cut - s);
	g_strstrip(g_strdelimit(*name, ",", ' '));
	*number = g_strstrip(g_strdup(cut));
}

/* "12 A", "12-a" and "12a" are one number; "1-3" stays "1-3". */
char *custfold_number(const char *text)
{
	GString *out = g_string_new(NULL);
	const char *p;

	for (p = text; *p != '\0'; p++) {
		if (g_ascii_isspace(*p))
			continue;
		if ((*p == '-' || *p == '/') && out->len > 0
		    && g_ascii_isdigit(out->str[out->len - 1])
		    && g_ascii_isalpha(p[1] == ' ' ? p[2] : p[1]))
			continue;
		g_string_append_c(out, g_ascii_tolower(*p));
	}
	return g_string_free(out, FALSE);
}

/* Whether a stored street (and house number, when stored apart) is
 * want[1] (folded name, "" for any) with number want[2]. */
static gboolean street_matches(const char *street, const char *house,
                               const customer_scan_t *scan)
{
	g_autofree char *name = NULL, *number = NULL, *fname = NULL, *fnumber = NULL;

	if (*house != '\0') {
		name = g_strdup(street);
		number = g_strdup(house);
	} else {
		custfold_street_split(street, &name, &number);
	}
	fname = custfold_text(name);
	fnumber = custfold_number(number);
	return (*scan->want[1] == '\0' || strcmp(fname, scan->want[1]) == 0)
	       && strcmp(fnumber, scan->want[2]) == 0;
}

gboolean custfold_test_street(const customer_scan_t *scan, json_object *rec, GString *why)
{
	gboolean address = strcmp(scan->endpoint, "addresses") == 0;
	const char *zip = custfold_field(rec, scan->key);
	const char *street = custfold_field(rec, address ? "adr_line_1" : "street");
	const char *house = address ? "" : custfold_field(rec, "house_number");
	g_autofree char *fzip = custfold_zip(zip);

	g_string_append_printf(why, "%s \"%s\", street \"%s%s%s\": ", scan->key, zip,
	                       street, *house ? " " : "", house);
	if (strcmp(fzip, scan->want[0]) != 0) {
		g_string_append(why, "another postcode");
		return FALSE;
	}
	if (!street_matches(street, house, scan)) {
		g_string_append(why, "same postcode, another street or house number");
		return FALSE;
	}
	g_string_append(why, "same postcode, street and house number");
	return TRUE;
}

/* -------------------------------------------------------- exact keys */

/* want[0] folded, want[1] as written, for the explanation. */
gboolean custfold_test_key(const customer_scan_t *scan, json_object *rec, GString *why)
{
	const char *got = custfold_field(rec, scan->key);
	gboolean yes = custfold_equal(got, scan->want[0]);

	g_string_append_printf(why, "%s \"%s\" %s \"%s\"", scan->key, got,
	                       yes ? "equals" : "differs from", scan->want[1]);
	return yes;
}
