/*
 * match.c: the match rules of SPEC 3.3 (sender_type), one small function
 * each, and the choice of the first active mail configuration that accepts
 * the message. Each matcher says why, in a mail administrator's words, for
 * --explain. A matcher that fails (a regex limit) is an error, never a "no".
 */
#include <stdarg.h>
#include <string.h>

#include "m2wo.h"

/* Longest piece of message text quoted in an --explain reason. */
#define MATCH_EXCERPT_CHARS 80

/*
 * "Case-insensitive" is Unicode case folding on normalised text: NFKD, then
 * g_utf8_casefold, then NFKC, as Unicode's toNFKC_Casefold does. So "STÖRUNG"
 * equals "störung" whether the Ö is precomposed or not, and the "ﬁ" ligature
 * equals "fi". White space around the text is trimmed first.
 */
static char *
match_fold_unicode(const char *text)
{
	g_autofree char *trimmed = regex_trim(text, -1);
	g_autofree char *nfkd = g_utf8_normalize(trimmed, -1, G_NORMALIZE_ALL);
	g_autofree char *folded = g_utf8_casefold(nfkd ? nfkd : trimmed, -1);
	char *nfkc = g_utf8_normalize(folded, -1, G_NORMALIZE_ALL_COMPOSE);

	return nfkc ? nfkc : g_steal_pointer(&folded);
}

/* The ASCII characters that regex_trim takes for blanks: g_ascii_isspace
 * leaves out the vertical tab. */
static gboolean
match_ascii_blank(char c)
{
	return g_ascii_isspace(c) || c == '\v';
}

/* Plain ASCII, nearly every address and value, comes out of the Unicode
 * steps lowercased and trimmed of blanks and nothing else; those steps
 * cost a few thousand instructions per value, and with many configurations
 * they were most of the matching. */
static char *
match_fold(const char *text)
{
	const char *end = text;

	while (*end != '\0' && (guchar)*end < 0x80)
		end++;
	if (*end != '\0')
		return match_fold_unicode(text);
	while (match_ascii_blank(*text))
		text++;
	while (end > text && match_ascii_blank(end[-1]))
		end--;
	return g_ascii_strdown(text, end - text);
}

/* Adds to the reason for --explain; without --explain there is none to
 * build (why is NULL), and with many configurations building it cost more
 * than the matching. */
static void
match_say(GString *why, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
match_say(GString *why, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL)
		return;
	va_start(ap, fmt);
	g_string_append_vprintf(why, fmt, ap);
	va_end(ap);
}

/* Message fields are "" when absent; stay safe if one is NULL anyway. */
static const char *
match_str(const char *text)
{
	return text ? text : "";
}

typedef gboolean (*match_cmp_fn)(const char *text, const char *value);

static gboolean
match_cmp_equal(const char *text, const char *value)
{
	return strcmp(text, value) == 0;
}

static gboolean
match_cmp_contains(const char *text, const char *value)
{
	return strstr(text, value) != NULL;
}

/* "*.example.com" accepts example.com itself and every subdomain of it;
 * "example.com" accepts only example.com. */
static gboolean
match_cmp_domain(const char *domain, const char *value)
{
	if (g_str_has_prefix(value, "*.")) {
		value += 2;
		if (strcmp(domain, value) == 0)
			return TRUE;
		return g_str_has_suffix(domain, value) &&
		       strlen(domain) > strlen(value) &&
		       domain[strlen(domain) - strlen(value) - 1] == '.';
	}
	return strcmp(domain, value) == 0;
}

/*
 * The folded message fields of one match_pick, keyed by the field's
 * address (stable while one message is matched). The body may be a
 * megabyte: folding it again for every configuration tried made many
 * configurations slow.
 */
#define MATCH_CACHE_SLOTS 4
static struct {
	const char *text;
	char *folded;
} match_cache[MATCH_CACHE_SLOTS];
static gboolean match_caching;	/* only inside match_pick */

static void
match_cache_clear(void)
{
	for (guint i = 0; i < MATCH_CACHE_SLOTS; i++) {
		match_cache[i].text = NULL;
		g_clear_pointer(&match_cache[i].folded, g_free);
	}
}

/* text folded; borrowed, valid until the next call. */
static const char *
match_fold_field(const char *text)
{
	guint i;

	for (i = 0; match_caching && i < MATCH_CACHE_SLOTS; i++)
		if (match_cache[i].text == text)
			return match_cache[i].folded;
	for (i = 0; match_caching && i < MATCH_CACHE_SLOTS - 1; i++)
		if (match_cache[i].text == NULL)
			break;
	if (!match_caching)
		i = MATCH_CACHE_SLOTS - 1;
	/* Full: the last slot takes turns. */
	g_free(match_cache[i].folded);
	match_cache[i].text = text;
	match_cache[i].folded = match_fold(text);
	return match_cache[i].folded;
}

/* Whether text is already what match_fold makes of it: lowercase ASCII
 * without blanks around it, as nearly every sender_value is. With many
 * configurations, a folded copy of each value tried cost more than the
 * rest of the matching. */
static gboolean
match_is_folded(const char *text)
{
	const char *p = text;

	if (match_ascii_blank(*p))
		return FALSE;
	for (; *p != '\0'; p++)
		if ((guchar)*p >= 0x80 || (guchar)(*p - 'A') < 26)
			return FALSE;
	return p == text || !match_ascii_blank(p[-1]);
}

/* Index of the first sender_value that accepts text, or -1. Empty items
 * (from "a;;b" or a trailing ';') are ignored: they would accept all. */
static int
match_find(char **values, const char *text, match_cmp_fn cmp)
{
	const char *folded = match_fold_field(text);

	for (int i = 0; values != NULL && values[i] != NULL; i++) {
		g_autofree char *copy = NULL;
		const char *value = values[i];

		if (!match_is_folded(value))
			value = copy = match_fold(value);
		if (*value != '\0' && cmp(folded, value))
			return i;
	}
	return -1;
}

/* Appends the non-empty values, quoted: "\"a\", \"b\"". */
static void
match_append_values(GString *why, char **values)
{
	guint n = 0;

	for (int i = 0; values != NULL && values[i] != NULL; i++) {
		g_autofree char *value = regex_trim(values[i], -1);

		if (*value == '\0')
			continue;
		g_string_append_printf(why, "%s\"%s\"", n ? ", " : "", value);
		n++;
	}
	if (n == 0)
		g_string_append(why, "(no sender_value)");
}

static guint
match_count_values(char **values)
{
	guint n = 0;

	for (int i = 0; values != NULL && values[i] != NULL; i++) {
		g_autofree char *value = regex_trim(values[i], -1);

		n += *value != '\0';
	}
	return n;
}

/* How a list matcher compares, in words for --explain. */
typedef struct {
	match_cmp_fn cmp;
	const char *yes;         /* "equals" */
	const char *no_one;      /* "is not" */
	const char *no_many;     /* "is not one of:" */
} match_how_t;

static const match_how_t match_equal = {
	match_cmp_equal, "equals", "is not", "is not one of:" };
static const match_how_t match_contains = {
	match_cmp_contains, "contains", "does not contain", "contains none of:" };
static const match_how_t match_domain = {
	match_cmp_domain, "matches", "is not", "is not one of:" };

typedef enum {
	MATCH_SHOW_PLAIN,        /* addresses */
	MATCH_SHOW_QUOTED,       /* the subject */
	MATCH_SHOW_NONE,         /* the body: too long to quote */
} match_show_t;

/* Shared by the list matchers: what the text is called ("From", "subject"),
 * the text, how it is shown and how it is compared. */
static int
match_list(const m2wo_mailconf_t *conf, const char *what, const char *text,
           match_show_t show, const match_how_t *how, GString *why)
{
	int i = match_find(conf->sender_values, text, how->cmp);
	g_autofree char *shown = NULL;

	if (why == NULL)
		return i >= 0;
	shown = regex_excerpt(text, MATCH_EXCERPT_CHARS);
	if (show == MATCH_SHOW_QUOTED)
		g_string_append_printf(why, "%s \"%s\" ", what, shown);
	else if (show == MATCH_SHOW_PLAIN)
		g_string_append_printf(why, "%s %s ", what, shown);
	else
		g_string_append_printf(why, "%s ", what);
	if (i >= 0) {
		g_autofree char *value = regex_trim(conf->sender_values[i], -1);

		g_string_append_printf(why, "%s \"%s\"", how->yes, value);
		return 1;
	}
	g_string_append_printf(why, "%s ", match_count_values(conf->sender_values)
	                       == 1 ? how->no_one : how->no_many);
	match_append_values(why, conf->sender_values);
	return 0;
}

static int
match_sender(m2wo_mailconf_t *conf, const m2wo_run_t *run, GString *why,
             GError **error)
{
	const char *from = match_str(run->msg->from_address);

	if (*from == '\0') {
		match_say(why, "the message has no From address");
		return 0;
	}
	return match_list(conf, "From", from, MATCH_SHOW_PLAIN, &match_equal,
	                  why);
}

static int
match_sender_domain(m2wo_mailconf_t *conf, const m2wo_run_t *run,
                    GString *why, GError **error)
{
	const char *at = strrchr(match_str(run->msg->from_address), '@');

	if (at == NULL || at[1] == '\0') {
		match_say(why, "the From address has no domain");
		return 0;
	}
	return match_list(conf, "From domain", at + 1, MATCH_SHOW_PLAIN,
	                  &match_domain, why);
}

static int
match_title_contains(m2wo_mailconf_t *conf, const m2wo_run_t *run,
                     GString *why, GError **error)
{
	return match_list(conf, "subject", run->msg->subject, MATCH_SHOW_QUOTED,
	                  &match_contains, why);
}

static int
match_title_equals(m2wo_mailconf_t *conf, const m2wo_run_t *run,
                   GString *why, GError **error)
{
	return match_list(conf, "subject", run->msg->subject, MATCH_SHOW_QUOTED,
	                  &match_equal, why);
}

static int
match_message_contains(m2wo_mailconf_t *conf, const m2wo_run_t *run,
                       GString *why, GError **error)
{
	return match_list(conf, "body text", run->msg->body, MATCH_SHOW_NONE,
	                  &match_contains, why);
}

static int
match_any(m2wo_mailconf_t *conf, const m2wo_run_t *run, GString *why,
          GError **error)
{
	match_say(why, "Any accepts every message");
	return 1;
}

static int
match_recipient(m2wo_mailconf_t *conf, const m2wo_run_t *run, GString *why,
                GError **error)
{
	if (run->recipient == NULL || *run->recipient == '\0') {
		match_say(why, "no envelope recipient was given "
		                "(-r, RECIPIENT or the last argument)");
		return 0;
	}
	return match_list(conf, "recipient", run->recipient, MATCH_SHOW_PLAIN,
	                  &match_equal, why);
}

/* Compiles sender_value on first use. Not caseless: the administrator
 * writes (?i) when wanted. */
static gboolean
match_regex_compile(m2wo_mailconf_t *conf, GError **error)
{
	GError *local = NULL;
	const char *pattern = conf->sender_values ? conf->sender_values[0] : NULL;

	if (conf->sender_code != NULL)
		return TRUE;
	if (pattern == NULL) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            "config \"%s\": sender_value has no pattern",
		            conf->name);
		return FALSE;
	}
	conf->sender_code = regex_compile(pattern, FALSE, &local);
	if (conf->sender_code == NULL) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            "config \"%s\": sender_value: %s", conf->name,
		            local->message);
		g_error_free(local);
		return FALSE;
	}
	return TRUE;
}

static int
match_regex(m2wo_mailconf_t *conf, const char *what, const char *text,
            GString *why, GError **error)
{
	g_autofree char *value = NULL;
	GError *local = NULL;
	int rc;

	if (!match_regex_compile(conf, error))
		return -1;
	if (text == NULL)
		text = "";
	rc = regex_search(conf->sender_code, text, strlen(text),
	                  why != NULL ? &value : NULL, &local);
	if (rc < 0) {
		if (local->code == M2WO_ERROR_REGEX_LIMIT)
			g_prefix_error(&local, "regex limit in sender_value of "
			               "config \"%s\": ", conf->name);
		g_propagate_error(error, local);
		return -1;
	}
	if (why == NULL)
		return rc;
	g_string_append_printf(why, "the pattern %s the %s", rc ? "matches"
	                       : "does not match", what);
	if (rc && *value != '\0') {
		g_autofree char *shown = regex_excerpt(value, MATCH_EXCERPT_CHARS);

		g_string_append_printf(why, " (\"%s\")", shown);
	}
	return rc;
}

static int
match_sender_regex(m2wo_mailconf_t *conf, const m2wo_run_t *run,
                   GString *why, GError **error)
{
	return match_regex(conf, "From address", run->msg->from_address, why,
	                   error);
}

static int
match_title_regex(m2wo_mailconf_t *conf, const m2wo_run_t *run,
                  GString *why, GError **error)
{
	return match_regex(conf, "subject", run->msg->subject, why, error);
}

static int
match_message_regex(m2wo_mailconf_t *conf, const m2wo_run_t *run,
                    GString *why, GError **error)
{
	return match_regex(conf, "body text", run->msg->body, why, error);
}

static const m2wo_matcher_t match_table[] = {
	{ "Sender", match_sender,
	  "the From address equals a value", FALSE },
	{ "SenderDomain", match_sender_domain,
	  "the From address's domain equals a value", FALSE },
	{ "TitleContains", match_title_contains,
	  "the subject contains a value", FALSE },
	{ "TitleEquals", match_title_equals,
	  "the subject, trimmed, equals a value", FALSE },
	{ "MessageContains", match_message_contains,
	  "the body text contains a value", FALSE },
	{ "Any", match_any,
	  "every message", FALSE },
	{ "Recipient", match_recipient,
	  "the envelope recipient equals a value", FALSE },
	{ "SenderRegex", match_sender_regex,
	  "the pattern matches the From address", TRUE },
	{ "TitleRegex", match_title_regex,
	  "the pattern matches the subject", TRUE },
	{ "MessageRegex", match_message_regex,
	  "the pattern matches the body text", TRUE },
};

/* sender_type names are OutSmart's, spelled exactly. */
const m2wo_matcher_t *
match_lookup(const char *name)
{
	for (gsize i = 0; name != NULL && i < G_N_ELEMENTS(match_table); i++)
		if (strcmp(match_table[i].name, name) == 0)
			return &match_table[i];
	return NULL;
}

const m2wo_matcher_t *
match_nth(guint n)
{
	return n < G_N_ELEMENTS(match_table) ? &match_table[n] : NULL;
}

/* Tries one configuration: -1 error, 0 no, 1 yes; explains it. */
static int
match_try(m2wo_run_t *run, m2wo_mailconf_t *conf, GError **error)
{
	g_autoptr(GString) why = NULL;
	const m2wo_matcher_t *matcher = conf->matcher;
	GError *local = NULL;
	int rc;

	if (matcher == NULL) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            "config \"%s\" has no sender_type", conf->name);
		return -1;
	}
	if (run->explain != NULL)
		why = g_string_new(NULL);
	rc = matcher->match(conf, run, why, &local);
	if (rc < 0 && local == NULL)
		g_set_error(&local, M2WO_ERROR, M2WO_ERROR_INTERNAL,
		            "config \"%s\": %s failed", conf->name, matcher->name);
	if (why != NULL)
		explain(run, "config \"%s\" (%s: %s): %s, %s", conf->name,
		        matcher->name, matcher->describe,
		        rc < 0 ? "error" : rc ? "yes" : "no",
		        rc < 0 ? local->message : why->str);
	if (local != NULL)
		g_propagate_error(error, local);
	return rc;
}

int
match_pick(m2wo_run_t *run, GError **error)
{
	GPtrArray *confs = run->config->mailconfs;

	g_return_val_if_fail(run->msg != NULL, -1);
	match_cache_clear();
	match_caching = TRUE;
	for (guint i = 0; confs != NULL && i < confs->len; i++) {
		m2wo_mailconf_t *conf = confs->pdata[i];
		int rc;

		if (!conf->active) {
			explain(run, "config \"%s\": skipped: inactive", conf->name);
			continue;
		}
		rc = match_try(run, conf, error);
		/* A configuration from the snapshot is loaded once it is chosen. */
		if (rc > 0 && conf->stub &&
		    (conf = confsnap_expand(run->config, i, error)) == NULL)
			rc = -1;
		if (rc != 0) {
			if (rc > 0)
				run->conf = conf;
			match_caching = FALSE;
			match_cache_clear();
			return rc;
		}
	}
	match_caching = FALSE;
	match_cache_clear();
	explain(run, "no mail configuration accepts this message");
	return 0;
}
