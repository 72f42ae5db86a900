/*
 * workorder.c: builds the PostWorkorders object from the relation, the
 * forced.* templates and the message, and says which required fields are
 * still empty. It is the one place that knows OutSmart's work-order field
 * names (outsmart-api.md); nothing else may spell them. Every string put
 * into json-c is valid UTF-8 and at most M2WO_MAX_FIELD_LEN bytes.
 */
#define _GNU_SOURCE   /* memmem(3) */
#include <string.h>
#include <json-c/printbuf.h>

#include "m2wo.h"

/* Longest value shown in an --explain line, in characters. */
#define WO_EXPLAIN_CHARS 80

typedef enum {
	WO_STRING,   /* one line: line breaks become spaces */
	WO_TEXT,     /* several lines */
	WO_NUMBER,   /* decimal, "52.08" or "52,08" */
	WO_INTEGER,  /* digits only */
	WO_BOOL01,   /* 0 or 1 */
	WO_STRINGS,  /* array of strings */
	WO_OBJECTS,  /* array of objects */
} wo_type_t;

typedef struct {
	const char *name;
	wo_type_t type;
	gboolean required;
	gboolean settable;        /* forced.FIELD may set it */
	const char *relation_key; /* customer field: the relation's key */
	gboolean invoice;         /* from the invoice relation */
} wo_field_t;

#define WO_REQ(n)             { n, WO_STRING, TRUE, TRUE, NULL, FALSE }
#define WO_OPT(n, t)          { n, t, FALSE, TRUE, NULL, FALSE }
#define WO_CUST(n, r, k)      { n, WO_STRING, r, TRUE, k, FALSE }
#define WO_INV(n, r, k)       { n, WO_STRING, r, TRUE, k, TRUE }
/* Fields forced.* may not set: m2wo fills Attachments and WorkObjects itself
 * (from the message and the SearchObject rule), and it does not fill
 * Employees, Materials, Workperiods and Forms, which are structured records
 * a one-line template cannot express. WorkorderNo comes from the global
 * workorder_no template only, so that dedupe, the audit line and the posted
 * work order always agree on it. */
#define WO_OWN(n, t, r)       { n, t, r, FALSE, NULL, FALSE }

/* In outsmart-api.md's order of the required fields; the rest grouped. */
static const wo_field_t wo_fields[] = {
	WO_OWN("WorkorderNo", WO_STRING, TRUE),
	WO_OPT("ProjectNr", WO_STRING),
	WO_OPT("ExternProjectNr", WO_STRING),
	WO_OPT("OrderNr", WO_STRING),
	WO_CUST("CustomerName", TRUE, "name"),
	WO_CUST("CustomerDebtorNr", TRUE, "debtor_number"),
	WO_CUST("CustomerStreet", TRUE, "street"),
	WO_CUST("CustomerStreetNo", FALSE, "house_number"),
	WO_CUST("CustomerZIP", TRUE, "postal_code"),
	WO_CUST("CustomerCity", TRUE, "city"),
	WO_CUST("CustomerContactPerson", TRUE, "contact"),
	WO_CUST("CustomerEmail", FALSE, "email"),
	WO_CUST("CustomerPhone", FALSE, "phone_number"),
	WO_OPT("CustomerRemark", WO_TEXT),
	WO_OPT("CustomerLatitude", WO_NUMBER),
	WO_OPT("CustomerLongitude", WO_NUMBER),
	WO_INV("CustomerNameInvoice", TRUE, "name"),
	WO_INV("CustomerDebtorNrInvoice", TRUE, "debtor_number"),
	WO_INV("CustomerStreetInvoice", TRUE, "street"),
	WO_INV("CustomerStreetNoInvoice", FALSE, "house_number"),
	WO_INV("CustomerZIPInvoice", TRUE, "postal_code"),
	WO_INV("CustomerCityInvoice", TRUE, "city"),
	WO_INV("CustomerContactPersonInvoice", TRUE, "contact"),
	WO_INV("CustomerEmailInvoice", FALSE, "email"),
	WO_INV("CustomerPhoneInvoice", FALSE, "phone_number"),
	WO_OPT("CustomerRemarkInvoice", WO_TEXT),
	WO_OPT("CustomerLatitudeInvoice", WO_NUMBER),
	WO_OPT("CustomerLongitudeInvoice", WO_NUMBER),
	WO_REQ("TypeOfWork"),
	WO_REQ("PaymentMethod"),
	WO_OPT("WorkDescription", WO_TEXT),
	WO_OPT("InternalWorkDescription", WO_TEXT),
	WO_OPT("ShortWorkDescription", WO_STRING),
	WO_OPT("Comment", WO_TEXT),
	WO_OPT("EmployeeNr", WO_STRING),
	WO_OPT("WorkDate", WO_STRING),
	WO_OPT("WorkTime", WO_STRING),
	WO_OPT("WorkEndDate", WO_STRING),
	WO_OPT("WorkEndTime", WO_STRING),
	WO_OPT("WorkDeadline", WO_STRING),
	WO_OPT("WorkDuration", WO_INTEGER),
	WO_OPT("WorkStatus", WO_STRING),
	WO_OPT("PickupPlanning", WO_BOOL01),
	WO_OPT("WebPlanning", WO_BOOL01),
	WO_OPT("CpnCode", WO_STRING),
	WO_OPT("AdrCode", WO_STRING),
	WO_OPT("ErrorCode", WO_STRING),
	WO_OPT("ErrorMessage", WO_TEXT),
	WO_OPT("SolutionCode", WO_STRING),
	WO_OPT("SolutionMessage", WO_TEXT),
	WO_OPT("PriorityCode", WO_STRING),
	WO_OPT("PriorityMessage", WO_TEXT),
	WO_OPT("MinimumHours", WO_NUMBER),
	WO_OPT("RoundingAmount", WO_STRING),
	WO_OWN("Attachments", WO_OBJECTS, FALSE),
	WO_OWN("WorkObjects", WO_STRINGS, FALSE),
	WO_OWN("Employees", WO_STRINGS, FALSE),
	WO_OWN("Materials", WO_OBJECTS, FALSE),
	WO_OWN("Workperiods", WO_OBJECTS, FALSE),
	WO_OWN("Forms", WO_OBJECTS, FALSE),
};

static const wo_field_t *
wo_field(const char *name)
{
	for (gsize i = 0; name != NULL && i < G_N_ELEMENTS(wo_fields); i++)
		if (strcmp(wo_fields[i].name, name) == 0)
			return &wo_fields[i];
	return NULL;
}

gboolean
workorder_field_known(const char *field)
{
	const wo_field_t *f = wo_field(field);

	return f != NULL && f->settable;
}

/* Cuts s in place to at most M2WO_MAX_FIELD_LEN bytes, before a whole
 * character (s is valid UTF-8). Returns TRUE when it cut. */
static gboolean
wo_cut(char *s)
{
	gsize len = strlen(s);
	char *end;

	if (len <= M2WO_MAX_FIELD_LEN)
		return FALSE;
	end = s + M2WO_MAX_FIELD_LEN;
	while (end > s && (*end & 0xC0) == 0x80)
		end--;
	*end = '\0';
	return TRUE;
}

/* Valid UTF-8, trimmed, one line for WO_STRING, cut. New string. */
static char *
wo_clean(const wo_field_t *f, const char *text, gboolean *cut)
{
	char *s = regex_trim(text, -1);

	if (f->type == WO_STRING)
		for (char *p = s; *p != '\0'; p++)
			if (*p == '\n' || *p == '\r' || *p == '\t')
				*p = ' ';
	*cut = wo_cut(s);
	return s;
}

/* "52.08", "-4,9": a plain decimal, as OutSmart's examples write it. */
static gboolean
wo_is_decimal(char *s)
{
	char *p = s + (*s == '-');
	gboolean point = FALSE;

	if (!g_ascii_isdigit(*p))
		return FALSE;
	for (; *p != '\0'; p++) {
		if ((*p == '.' || *p == ',') && !point && g_ascii_isdigit(p[1])) {
			*p = '.';
			point = TRUE;
		} else if (!g_ascii_isdigit(*p)) {
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
wo_parse_bool01(const char *s, int *out)
{
	static const char *const yes[] = { "1", "true", "yes", "ja" };
	static const char *const no[] = { "0", "false", "no", "nee" };

	for (gsize i = 0; i < G_N_ELEMENTS(yes); i++) {
		if (g_ascii_strcasecmp(s, yes[i]) == 0)
			return *out = 1, TRUE;
		if (g_ascii_strcasecmp(s, no[i]) == 0)
			return *out = 0, TRUE;
	}
	return FALSE;
}

/* The JSON value of a cleaned, non-empty text for field f, or NULL with
 * *problem set ("is not a number"). */
static json_object *
wo_value(const wo_field_t *f, char *s, const char **problem)
{
	guint64 n;
	int b;

	switch (f->type) {
	case WO_STRING:
	case WO_TEXT:
		return json_object_new_string(s);
	case WO_NUMBER:
		if (wo_is_decimal(s))
			return json_object_new_double_s(g_ascii_strtod(s, NULL), s);
		*problem = "is not a number";
		return NULL;
	case WO_INTEGER:
		if (g_ascii_isdigit(*s) &&
		    g_ascii_string_to_unsigned(s, 10, 0, G_MAXINT64, &n, NULL))
			return json_object_new_int64((gint64)n);
		*problem = "is not a number";
		return NULL;
	case WO_BOOL01:
		if (wo_parse_bool01(s, &b))
			return json_object_new_int(b);
		*problem = "is not 0 or 1";
		return NULL;
	default:
		*problem = "cannot be set from text";
		return NULL;
	}
}

/* Adds the field with its value (which must be valid for its type) and
 * explains where it came from. */
static void
wo_add(m2wo_run_t *run, json_object *wo, const char *name, json_object *value,
       const char *source, gboolean cut)
{
	g_autofree char *shown = regex_excerpt(json_object_get_string(value),
	                                       WO_EXPLAIN_CHARS);
	const char *quote = json_object_is_type(value, json_type_string) ?
	                    "\"" : "";

	json_object_object_add(wo, name, value);
	explain(run, "%s = %s%s%s (%s%s)", name, quote, shown, quote, source,
	        cut ? ", cut at " G_STRINGIFY(M2WO_MAX_FIELD_LEN) " bytes" : "");
}

/* A string field: cleaned, left out when empty. Returns TRUE if set. */
static gboolean
wo_add_string(m2wo_run_t *run, json_object *wo, const wo_field_t *f,
              const char *text, const char *source)
{
	gboolean cut;
	g_autofree char *s = wo_clean(f, text ? text : "", &cut);

	if (*s == '\0')
		return FALSE;
	wo_add(run, wo, f->name, json_object_new_string(s), source, cut);
	return TRUE;
}

static gboolean
wo_add_workorder_no(m2wo_run_t *run, json_object *wo, GError **error)
{
	const char *tmpl = run->config && run->config->workorder_no ?
	                   run->config->workorder_no : M2WO_DEF_WORKORDER_NO;
	GError *local = NULL;
	g_autofree char *no = template_expand(tmpl, run->params, &local);
	json_object *value;

	if (no == NULL) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            "workorder_no: %s", local ? local->message : "failed");
		g_clear_error(&local);
		return FALSE;
	}
	wo_add_string(run, wo, wo_field("WorkorderNo"), no, "workorder_no");
	g_free(run->workorder_no);
	value = json_object_object_get(wo, "WorkorderNo");
	run->workorder_no = g_strdup(value ? json_object_get_string(value) : "");
	return TRUE;
}

/* The relation's value for key as text ("" when absent or null). */
static const char *
wo_relation_get(json_object *relation, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(relation, key, &value) || value == NULL)
		return "";
	return json_object_get_string(value);
}

/* CustomerContactPerson: the relation's contact, else the sender's display
 * name, else the relation's name. */
static void
wo_add_contact(m2wo_run_t *run, json_object *wo, const wo_field_t *f,
               json_object *relation, const char *label)
{
	g_autofree char *name_source = g_strdup_printf("name of %s", label);
	const char *display = run->msg && run->msg->from_name ?
	                      run->msg->from_name : "";

	if (wo_add_string(run, wo, f, wo_relation_get(relation, "contact"), label))
		return;
	if (wo_add_string(run, wo, f, display, "sender's display name"))
		return;
	wo_add_string(run, wo, f, wo_relation_get(relation, "name"), name_source);
}

/* The customer fields of one side (invoice or not) from one relation. */
static void
wo_add_relation(m2wo_run_t *run, json_object *wo, json_object *relation,
                gboolean invoice, const char *kind)
{
	const char *debtor = wo_relation_get(relation, "debtor_number");
	g_autofree char *label = *debtor ? g_strdup_printf("%s %s", kind, debtor)
	                                 : g_strdup(kind);

	for (gsize i = 0; i < G_N_ELEMENTS(wo_fields); i++) {
		const wo_field_t *f = &wo_fields[i];

		if (f->relation_key == NULL || f->invoice != invoice)
			continue;
		if (strcmp(f->relation_key, "contact") == 0)
			wo_add_contact(run, wo, f, relation, label);
		else
			wo_add_string(run, wo, f,
			              wo_relation_get(relation, f->relation_key),
			              label);
	}
}

/* Without a relation (--offline) the customer fields stay empty. */
static void
wo_add_customer(m2wo_run_t *run, json_object *wo)
{
	json_object *relation = run->relation;
	json_object *invoice = run->invoice_relation;

	if (json_object_is_type(relation, json_type_object))
		wo_add_relation(run, wo, relation, FALSE, "relation");
	if (json_object_is_type(invoice, json_type_object))
		wo_add_relation(run, wo, invoice, TRUE, "invoice relation");
	else if (json_object_is_type(relation, json_type_object))
		wo_add_relation(run, wo, relation, TRUE, "relation");
}

static void
wo_add_objects(m2wo_run_t *run, json_object *wo)
{
	json_object *array = json_object_new_array();
	g_autoptr(GString) shown = g_string_new(NULL);

	for (guint i = 0; run->work_objects && i < run->work_objects->len; i++) {
		g_autofree char *code = regex_trim(run->work_objects->pdata[i], -1);

		wo_cut(code);
		if (*code == '\0')
			continue;
		json_object_array_add(array, json_object_new_string(code));
		g_string_append_printf(shown, "%s\"%s\"", shown->len ? ", " : "",
		                       code);
	}
	if (json_object_array_length(array) == 0) {
		json_object_put(array);
		return;
	}
	json_object_object_add(wo, "WorkObjects", array);
	explain(run, "WorkObjects = [%s] (objects found)", shown->str);
}

static gboolean
wo_add_forced(m2wo_run_t *run, json_object *wo, const m2wo_forced_t *forced,
              GError **error)
{
	const wo_field_t *f = wo_field(forced->field);
	const char *problem = NULL;
	GError *local = NULL;
	g_autofree char *text = NULL;
	g_autofree char *s = NULL;
	json_object *value;
	gboolean cut;

	if (f == NULL || !f->settable) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            "forced.%s is not a work-order field m2wo can set",
		            forced->field);
		return FALSE;
	}
	text = template_expand(forced->template, run->params, &local);
	if (text == NULL) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            "forced.%s (line %d): %s", f->name, forced->line,
		            local ? local->message : "failed");
		g_clear_error(&local);
		return FALSE;
	}
	s = wo_clean(f, text, &cut);
	if (*s == '\0') {
		/* An empty value (say an unmatched regex) keeps what the
		 * relation gave, rather than erasing it. */
		explain(run, "%s: forced value is empty, left as it was", f->name);
		return TRUE;
	}
	value = wo_value(f, s, &problem);
	if (value == NULL) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_REJECT,
		            "forced.%s %s", f->name, problem);
		return FALSE;
	}
	wo_add(run, wo, f->name, value, "forced", cut);
	return TRUE;
}

/*
 * Data of an attachment. The base64 text of a large one is not kept: its
 * Data value holds the bytes and writes their base64 only when the work
 * order is serialised (by json-c, or in pieces below), so that a 20 MB
 * attachment is not in memory as bytes, as base64 and as JSON at once.
 * Most mailers send an attachment as exactly that base64 text, cut into
 * lines: when the message holds it, Data refers to it there and the
 * decoded bytes go. json_object_get_string() gives "" for such a value.
 * Smaller attachments are plain strings.
 */
#define WO_LAZY_MIN    (64 * 1024)   /* bytes; smaller Data is a string */
#define WO_B64_CHUNK   (3 * 4096)    /* bytes encoded at a time; 3 | it */
#define WO_PROBE       48            /* base64 characters looked for */
#define WO_PROBE_HITS  8             /* places in the message tried */

typedef struct {
	GBytes *bytes;  /* the attachment, or the part of the message with its
	                 * base64 text */
	gboolean lines; /* bytes is base64 text with line breaks to skip */
	gsize len;      /* length of the base64 text */
} wo_data_t;

typedef struct {
	gsize at;       /* offset of the hole, between the quotes */
	wo_data_t data; /* what fills it; holds a reference to the bytes */
} wo_hole_t;

/* Set while wo_render serialises: lazy Data then writes "" and notes
 * where, instead of its text. json-c tells a serializer nothing else. */
static GArray *wo_holes;

/* Writes the complete base64 text of n bytes to out (no line breaks,
 * padding when n is not a multiple of 3); returns its length. */
static gsize
wo_b64_put(char *out, const guchar *in, gsize n)
{
	gint state = 0, save = 0;
	gsize w = g_base64_encode_step(in, n, FALSE, out, &state, &save);

	return w + g_base64_encode_close(FALSE, out + w, &state, &save);
}

/* Writes the next at most room (4 or more) characters of data's base64
 * text to buf; *done counts the bytes of data->bytes used. Returns how
 * many, 0 at the end. */
static gsize
wo_data_fill(const wo_data_t *data, gsize *done, char *buf, gsize room)
{
	gsize len = 0, n = 0;
	const guchar *bytes = g_bytes_get_data(data->bytes, &len);

	if (!data->lines) {
		gsize take = MIN(len - *done, room / 4 * 3);

		*done += take;
		return wo_b64_put(buf, bytes + *done - take, take);
	}
	for (; *done < len && n < room; (*done)++)
		if (bytes[*done] != '\r' && bytes[*done] != '\n')
			buf[n++] = (char) bytes[*done];
	return n;
}

/* Appends text to pb, with "/" as "\\/" unless flags say otherwise, as
 * json-c writes a string. */
static int
wo_append_escaped(struct printbuf *pb, const char *text, gsize len, int flags)
{
	const char *slash;

	while (!(flags & JSON_C_TO_STRING_NOSLASHESCAPE) &&
	       (slash = memchr(text, '/', len)) != NULL) {
		if (printbuf_memappend(pb, text, (int) (slash - text)) < 0 ||
		    printbuf_strappend(pb, "\\/") < 0)
			return -1;
		len -= (gsize) (slash - text) + 1;
		text = slash + 1;
	}
	return printbuf_memappend(pb, text, (int) len);
}

/* The json-c serializer of a lazy Data value. */
static int
wo_data_serialize(json_object *jso, struct printbuf *pb, int level, int flags)
{
	const wo_data_t *data = json_object_get_userdata(jso);
	char out[WO_B64_CHUNK / 3 * 4];
	gsize done = 0, n;

	(void) level;
	if (wo_holes != NULL) {
		wo_hole_t hole = { (gsize) printbuf_length(pb) + 1, *data };

		g_bytes_ref(hole.data.bytes);
		g_array_append_val(wo_holes, hole);
		return printbuf_strappend(pb, "\"\"");
	}
	if (printbuf_strappend(pb, "\"") < 0)
		return -1;
	while ((n = wo_data_fill(data, &done, out, sizeof out)) > 0)
		if (wo_append_escaped(pb, out, n, flags) < 0)
			return -1;
	return printbuf_strappend(pb, "\"");
}

static void
wo_data_delete(json_object *jso, void *userdata)
{
	wo_data_t *data = userdata;

	(void) jso;
	g_bytes_unref(data->bytes);
	g_free(data);
}

/* Whether text holds the base64 text of bytes from offset at, line breaks
 * aside; sets *end past its last character. */
static gboolean
wo_b64_at(const char *text, gsize text_len, gsize at, GBytes *bytes,
          gsize *end)
{
	wo_data_t want = { bytes, FALSE, 0 };
	char chunk[WO_B64_CHUNK / 3 * 4];
	gsize done = 0, n, pos = at;

	while ((n = wo_data_fill(&want, &done, chunk, sizeof chunk)) > 0) {
		for (gsize i = 0; i < n; i++, pos++) {
			while (pos < text_len &&
			       (text[pos] == '\r' || text[pos] == '\n'))
				pos++;
			if (pos == text_len || text[pos] != chunk[i])
				return FALSE;
		}
	}
	*end = pos;
	return TRUE;
}

/* The part of the message that holds the base64 text of bytes, or NULL.
 * Only the first places that start alike are tried, so that a message of
 * many alike lines costs a few passes at most. */
static GBytes *
wo_find_b64(GBytes *raw, GBytes *bytes)
{
	gsize text_len = 0, at, end;
	const char *text = g_bytes_get_data(raw, &text_len);
	const char *hit = text;
	char probe[WO_PROBE];

	wo_b64_put(probe, g_bytes_get_data(bytes, NULL), WO_PROBE / 4 * 3);
	for (int i = 0; i < WO_PROBE_HITS; i++) {
		hit = memmem(hit, text_len - (gsize) (hit - text), probe, WO_PROBE);
		if (hit == NULL)
			return NULL;
		at = (gsize) (hit - text);
		if (wo_b64_at(text, text_len, at, bytes, &end))
			return g_bytes_new_from_bytes(raw, at, end - at);
		hit++;
	}
	return NULL;
}

/* Data for bytes; raw, when given, is the message to look for their
 * base64 text in. */
static json_object *
wo_data_new(GBytes *bytes, GBytes *raw)
{
	gsize len = g_bytes_get_size(bytes);
	wo_data_t *data;
	json_object *value;

	if (len < WO_LAZY_MIN) {
		g_autofree char *b64 = g_base64_encode(
			g_bytes_get_data(bytes, NULL), len);

		return json_object_new_string(b64);
	}
	data = g_new0(wo_data_t, 1);
	data->len = (len + 2) / 3 * 4;
	if (raw != NULL)
		data->bytes = wo_find_b64(raw, bytes);
	data->lines = data->bytes != NULL;
	if (data->bytes == NULL)
		data->bytes = g_bytes_ref(bytes);
	value = json_object_new_string("");
	json_object_set_serializer(value, wo_data_serialize, data,
	                           wo_data_delete);
	return value;
}

static json_object *
wo_attachment(const char *name, GBytes *data, GBytes *raw)
{
	json_object *att = json_object_new_object();
	g_autofree char *valid = g_utf8_make_valid(name ? name : "attachment", -1);

	json_object_object_add(att, "Data", wo_data_new(data, raw));
	json_object_object_add(att, "FileName", json_object_new_string(valid));
	return att;
}

/* The message's attachments, capped at M2WO_MAX_ATTACH_TOTAL decoded bytes
 * in all; returns the bytes used. */
static gsize
wo_add_parts(m2wo_run_t *run, json_object *array)
{
	g_autoptr(GPtrArray) atts = g_ptr_array_new_with_free_func(
		(GDestroyNotify)attachment_free);
	guint skipped;
	gsize used = 0;

	if (run->msg == NULL || run->msg->mime == NULL)
		return 0;
	skipped = text_attachments(run->msg->mime, M2WO_MAX_ATTACH_TOTAL, atts);
	for (guint i = 0; i < atts->len; i++) {
		m2wo_attachment_t *att = atts->pdata[i];
		gsize len = g_bytes_get_size(att->data);
		g_autofree char *shown = regex_excerpt(att->filename,
		                                       WO_EXPLAIN_CHARS);

		json_object_array_add(array, wo_attachment(att->filename,
		                                           att->data,
		                                           run->msg->raw));
		explain(run, "Attachments: \"%s\" (%zu bytes)", shown, (size_t)len);
		used += len;
	}
	run->attachments_skipped += skipped;
	if (skipped > 0)
		explain(run, "Attachments: %u skipped, over the limit of %d bytes "
		        "in all", skipped, M2WO_MAX_ATTACH_TOTAL);
	return used;
}

/* attach_original counts against the same cap as the attachments. */
static void
wo_add_original(m2wo_run_t *run, json_object *array, gsize used)
{
	gsize len = 0, skip = 0;
	const guchar *data;
	g_autoptr(GBytes) message = NULL;

	if (run->msg == NULL || run->msg->raw == NULL)
		return;
	data = g_bytes_get_data(run->msg->raw, &len);
	/* local(8) and procmail put an mbox "From " line first: it is no
	 * part of the message. */
	if (len > 5 && memcmp(data, "From ", 5) == 0) {
		const guchar *nl = memchr(data, '\n', len);

		if (nl != NULL)
			skip = (gsize)(nl + 1 - data);
	}
	len -= skip;
	if (used + len > M2WO_MAX_ATTACH_TOTAL) {
		run->attachments_skipped++;
		explain(run, "Attachments: message.eml (%zu bytes) skipped, over "
		        "the limit of %d bytes in all", (size_t)len,
		        M2WO_MAX_ATTACH_TOTAL);
		return;
	}
	/* A slice of the message, not a copy. */
	message = g_bytes_new_from_bytes(run->msg->raw, skip, len);
	json_object_array_add(array, wo_attachment("message.eml", message,
	                                           NULL));
	explain(run, "Attachments: \"message.eml\" (%zu bytes, the whole "
	        "message)", (size_t)len);
}

static void
wo_add_attachments(m2wo_run_t *run, json_object *wo)
{
	json_object *array = json_object_new_array();
	gsize used = 0;

	if (run->conf && run->conf->parse_attachments)
		used = wo_add_parts(run, array);
	if (run->conf && run->conf->attach_original)
		wo_add_original(run, array, used);
	if (json_object_array_length(array) > 0)
		json_object_object_add(wo, "Attachments", array);
	else
		json_object_put(array);
}

/* ------------------------------------------------------ serialisation */

/*
 * The JSON of a work order in pieces: json-c writes everything but the
 * lazy Data values, which leave holes, and the holes are filled with base64
 * as the text is read. Only the output (or the socket) ever holds the
 * base64 text.
 */
struct m2wo_wo_text {
	char *skeleton;    /* the JSON with empty holes */
	gsize skeleton_len;
	GArray *holes;     /* wo_hole_t, in the order of the text */
	gsize len;         /* bytes of the whole JSON */
	gsize pos;         /* read up to here in the skeleton */
	guint hole;        /* the next hole to fill */
	gsize done;        /* bytes of its data used */
	char carry[4];     /* base64 that did not fit the last read */
	gsize carry_len, carry_off;
};

static void
wo_hole_clear(gpointer hole)
{
	g_bytes_unref(((wo_hole_t *) hole)->data.bytes);
}

/* Serialises top with holes. */
static m2wo_wo_text_t *
wo_render(json_object *top, int flags)
{
	m2wo_wo_text_t *text = g_new0(m2wo_wo_text_t, 1);
	const char *json;
	size_t len = 0;

	text->holes = g_array_new(FALSE, FALSE, sizeof(wo_hole_t));
	g_array_set_clear_func(text->holes, wo_hole_clear);
	wo_holes = text->holes;
	json = json_object_to_json_string_length(top, flags, &len);
	wo_holes = NULL;
	if (json == NULL)
		g_array_set_size(text->holes, 0);
	text->skeleton = g_strndup(json ? json : "", len);
	text->skeleton_len = len;
	text->len = len;
	for (guint i = 0; i < text->holes->len; i++)
		text->len += g_array_index(text->holes, wo_hole_t, i).data.len;
	return text;
}

void
workorder_text_free(m2wo_wo_text_t *text)
{
	if (text == NULL)
		return;
	g_free(text->skeleton);
	g_array_unref(text->holes);
	g_free(text);
}

m2wo_wo_text_t *
workorder_text_new(json_object *workorder, gboolean pretty)
{
	g_autoptr(json_object) array = json_object_new_array();
	int flags = (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED :
	             JSON_C_TO_STRING_PLAIN) |
	            JSON_C_TO_STRING_NOSLASHESCAPE;

	json_object_array_add(array, json_object_get(workorder));
	return wo_render(array, flags);
}

gsize
workorder_text_length(const m2wo_wo_text_t *text)
{
	return text->len;
}

/* Copies up to room bytes of from (len bytes, *off of them taken) to buf;
 * returns how many. */
static gsize
wo_copy(char *buf, gsize room, const char *from, gsize len, gsize *off)
{
	gsize n = MIN(len - *off, room);

	memcpy(buf, from + *off, n);
	*off += n;
	return n;
}

gsize
workorder_text_read(m2wo_wo_text_t *text, char *buf, gsize max)
{
	gsize n = 0;

	while (n < max) {
		wo_hole_t *hole = text->hole < text->holes->len ?
		    &g_array_index(text->holes, wo_hole_t, text->hole) : NULL;
		gsize end = hole != NULL ? hole->at : text->skeleton_len;

		if (text->carry_off < text->carry_len) {
			n += wo_copy(buf + n, max - n, text->carry,
			             text->carry_len, &text->carry_off);
		} else if (text->pos < end) {
			n += wo_copy(buf + n, max - n, text->skeleton, end,
			             &text->pos);
		} else if (hole == NULL) {
			break;
		} else if (text->done == g_bytes_get_size(hole->data.bytes)) {
			text->hole++;
			text->done = 0;
		} else if (max - n < sizeof text->carry) {
			/* No room for a base64 group: it waits in carry. */
			text->carry_len = wo_data_fill(&hole->data,
				&text->done, text->carry, sizeof text->carry);
			text->carry_off = 0;
		} else {
			n += wo_data_fill(&hole->data, &text->done, buf + n, max - n);
		}
	}
	return n;
}

static gboolean
wo_check_size(json_object *wo, GError **error)
{
	g_autoptr(m2wo_wo_text_t) text = wo_render(wo, JSON_C_TO_STRING_PLAIN |
	                                           JSON_C_TO_STRING_NOSLASHESCAPE);

	if (text->len > M2WO_MAX_JSON_SIZE) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_TOO_LARGE,
		            "work order JSON of %zu bytes is over the limit of %d",
		            (size_t) text->len, M2WO_MAX_JSON_SIZE);
		return FALSE;
	}
	return TRUE;
}

static gboolean
wo_fill(m2wo_run_t *run, json_object *wo, GError **error)
{
	GPtrArray *forced = run->conf ? run->conf->forced : NULL;

	if (!wo_add_workorder_no(run, wo, error))
		return FALSE;
	wo_add_customer(run, wo);
	if (run->adr_code != NULL)
		wo_add_string(run, wo, wo_field("AdrCode"), run->adr_code,
		              "address found");
	wo_add_objects(run, wo);
	for (guint i = 0; forced != NULL && i < forced->len; i++)
		if (!wo_add_forced(run, wo, forced->pdata[i], error))
			return FALSE;
	wo_add_attachments(run, wo);
	return wo_check_size(wo, error);
}

gboolean
workorder_build(m2wo_run_t *run, GError **error)
{
	json_object *wo = json_object_new_object();

	if (run->params == NULL)
		run->params = g_hash_table_new_full(g_str_hash, g_str_equal,
		                                    g_free, g_free);
	if (!wo_fill(run, wo, error)) {
		json_object_put(wo);
		return FALSE;
	}
	g_clear_pointer(&run->workorder, json_object_put);
	run->workorder = wo;
	return TRUE;
}

static gboolean
wo_is_empty(json_object *workorder, const char *name)
{
	json_object *value = NULL;
	g_autofree char *s = NULL;

	if (!json_object_object_get_ex(workorder, name, &value) || value == NULL)
		return TRUE;
	if (!json_object_is_type(value, json_type_string))
		return FALSE;
	s = regex_trim(json_object_get_string(value), -1);
	return *s == '\0';
}

guint
workorder_missing(json_object *workorder, gboolean skip_customer,
                  GPtrArray *missing)
{
	guint n = 0;

	for (gsize i = 0; i < G_N_ELEMENTS(wo_fields); i++) {
		const wo_field_t *f = &wo_fields[i];

		if (!f->required || (skip_customer && f->relation_key != NULL))
			continue;
		if (wo_is_empty(workorder, f->name)) {
			g_ptr_array_add(missing, (gpointer)f->name);
			n++;
		}
	}
	return n;
}

char *
workorder_to_json(json_object *workorder, gboolean pretty)
{
	g_autoptr(m2wo_wo_text_t) text = workorder_text_new(workorder, pretty);
	char *out = g_malloc(text->len + 1);
	gsize n = workorder_text_read(text, out, text->len);

	out[n] = '\0';
	return out;
}
