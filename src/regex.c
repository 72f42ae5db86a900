/*
 * regex.c: compiles and runs the PCRE2 patterns of the configuration
 * (regex.*, subject_regex.* and the *Regex match rules) and turns a match
 * into a rule value (SPEC 3.4). A pattern must never hang m2wo: every search
 * runs under match and depth limits and a processor-time budget, and
 * hitting one is an error, never "no match".
 */
#include <string.h>
#include <time.h>

#include "m2wo.h"

/* Longest value shown in an --explain line, in characters. */
#define REGEX_EXPLAIN_CHARS 80

/*
 * PCRE2 counts its match and depth limits afresh at every start position,
 * so "\s*$" on a megabyte of blanks stays under them everywhere and still
 * runs for hours. A callout that m2wo puts in front of every pattern runs
 * at each start position and ends the search, as a limit, once it has
 * used this much processor time in all. Processor time, not the clock: a
 * busy machine must not turn a sound pattern into a limit. The clock is
 * read at every 16th start only, as reading it costs a system call.
 */
#define REGEX_CALLOUT 255
#define REGEX_CLOCK_EVERY 16

typedef struct {
	gint64 end_us;          /* processor time the search must end by */
	guint starts;           /* start positions tried */
	gboolean over;          /* it did not end by then */
} regex_budget_t;

/* Processor time of this thread, in microseconds. */
static gint64
regex_cpu_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* One match context for the whole process: the limits never change. */
static pcre2_match_context *
regex_match_context(void)
{
	static pcre2_match_context *context;

	if (context == NULL) {
		context = pcre2_match_context_create(NULL);
		if (context == NULL)
			return NULL;
		pcre2_set_match_limit(context, M2WO_REGEX_MATCH_LIMIT);
		pcre2_set_depth_limit(context, M2WO_REGEX_DEPTH_LIMIT);
	}
	return context;
}

/* Other callouts, a pattern's own, just go on. */
static int
regex_callout(pcre2_callout_block *block, void *data)
{
	regex_budget_t *budget = data;

	if (block->callout_number != REGEX_CALLOUT ||
	    ++budget->starts % REGEX_CLOCK_EVERY != 0 ||
	    regex_cpu_us() < budget->end_us)
		return 0;
	budget->over = TRUE;
	return PCRE2_ERROR_MATCHLIMIT;
}

/* Length of the (*UTF), (*CRLF), (*LIMIT_MATCH=n)... items that open a
 * pattern: PCRE2 accepts them only at its very start. */
static gsize
regex_start_items(const char *pattern)
{
	static const char *const items[] = {
		"UTF)", "UCP)", "CR)", "LF)", "CRLF)", "ANYCRLF)", "ANY)",
		"NUL)", "BSR_ANYCRLF)", "BSR_UNICODE)", "NOTEMPTY)",
		"NOTEMPTY_ATSTART)", "NO_AUTO_POSSESS)", "NO_DOTSTAR_ANCHOR)",
		"NO_JIT)", "NO_START_OPT)", "LIMIT_DEPTH=", "LIMIT_HEAP=",
		"LIMIT_MATCH=", "LIMIT_RECURSION=",
	};
	gsize at = 0;

	while (g_str_has_prefix(pattern + at, "(*")) {
		const char *p = pattern + at + 2;
		gsize i;

		for (i = 0; i < G_N_ELEMENTS(items); i++)
			if (g_str_has_prefix(p, items[i]))
				break;
		if (i == G_N_ELEMENTS(items))
			break;
		p += strlen(items[i]);
		if (p[-1] == '=') {
			while (g_ascii_isdigit(*p))
				p++;
			if (*p++ != ')')
				break;
		}
		at = (gsize)(p - pattern);
	}
	return at;
}

/* The pattern with the budget callout in front of it, as one group, so
 * that it means what it meant; NULL when it cannot be put so (the search
 * then has the per-position limits only). A trailing "\E" ends an open
 * \Q; the line break ends a (?x) comment that would swallow the ")". */
static pcre2_code *
regex_compile_budgeted(const char *pattern, uint32_t options,
                       const pcre2_code *plain)
{
	static const char *const ends[] = { "\\E)", "\\E\r\n)" };
	gsize start = regex_start_items(pattern);
	uint32_t want = 0, got = 0;

	pcre2_pattern_info(plain, PCRE2_INFO_CAPTURECOUNT, &want);
	for (gsize i = 0; i < G_N_ELEMENTS(ends); i++) {
		g_autofree char *text = g_strdup_printf(
			"%.*s(?C%d)(?:%s%s", (int)start, pattern, REGEX_CALLOUT,
			pattern + start, ends[i]);
		int code;
		PCRE2_SIZE offset;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)text,
		                               PCRE2_ZERO_TERMINATED, options,
		                               &code, &offset, NULL);

		if (re != NULL &&
		    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &got) == 0 &&
		    got == want)
			return re;
		pcre2_code_free(re);
	}
	return NULL;
}

pcre2_code *
regex_compile(const char *pattern, gboolean caseless, GError **error)
{
	/* Invalid UTF-8 in a message then simply never matches; \C could split
	 * a character and hand out invalid UTF-8, so it is refused. No JIT:
	 * m2wo runs once per message and compiles only what it uses. */
	uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF |
	                   PCRE2_NEVER_BACKSLASH_C;
	int code;
	PCRE2_SIZE offset;
	pcre2_code *re, *budgeted;

	if (caseless)
		options |= PCRE2_CASELESS;
	/* The pattern as written first: its errors and offsets are the
	 * administrator's. */
	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, options,
	                   &code, &offset, NULL);
	if (re == NULL) {
		PCRE2_UCHAR text[256];

		pcre2_get_error_message(code, text, sizeof text);
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            "%s at offset %zu", (const char *)text, (size_t)offset);
		return NULL;
	}
	budgeted = regex_compile_budgeted(pattern, options, re);
	if (budgeted == NULL)
		return re;
	pcre2_code_free(re);
	return budgeted;
}

/* U+0085, U+000B, the zero-width space and the byte-order mark are not
 * g_unichar_isspace() but are white space to a reader of a mail. */
static gboolean
regex_is_blank(gunichar c)
{
	return g_unichar_isspace(c) || c == 0x0B || c == 0x85 ||
	       c == 0x200B || c == 0xFEFF;
}

char *
regex_trim(const char *text, gssize len)
{
	g_autofree char *valid = g_utf8_make_valid(text ? text : "",
	                                           text ? len : 0);
	const char *start = valid;
	const char *end = valid + strlen(valid);

	while (*start != '\0' && regex_is_blank(g_utf8_get_char(start)))
		start = g_utf8_next_char(start);
	while (end > start) {
		const char *prev = g_utf8_prev_char(end);

		if (!regex_is_blank(g_utf8_get_char(prev)))
			break;
		end = prev;
	}
	return g_strndup(start, end - start);
}

char *
regex_excerpt(const char *text, guint max_chars)
{
	g_autofree char *valid = g_utf8_make_valid(text ? text : "", -1);
	GString *out = g_string_new(NULL);
	guint n = 0;

	/* One line, so that a trace line stays one line. */
	for (const char *p = valid; *p != '\0'; p = g_utf8_next_char(p), n++) {
		gunichar c = g_utf8_get_char(p);

		if (n == max_chars) {
			g_string_append(out, "\u2026");
			break;
		}
		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		g_string_append_unichar(out, c);
	}
	return g_string_free(out, FALSE);
}

/* The capture that holds the rule value (SPEC 3.4), as a new trimmed
 * string; an unset group gives "". */
static char *
regex_value(const pcre2_code *code, pcre2_match_data *md)
{
	PCRE2_UCHAR *buf = NULL;
	PCRE2_SIZE len = 0;
	uint32_t groups = 0;
	int rc;

	rc = pcre2_substring_number_from_name(code, (PCRE2_SPTR)"value");
	if (rc > 0 || rc == PCRE2_ERROR_NOUNIQUESUBSTRING) {
		/* With duplicate names PCRE2 hands out the first one set. */
		rc = pcre2_substring_get_byname(md, (PCRE2_SPTR)"value",
		                                &buf, &len);
	} else {
		pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups);
		rc = pcre2_substring_get_bynumber(md, groups >= 1 ? 1 : 0,
		                                  &buf, &len);
	}
	if (rc != 0)
		return g_strdup("");
	char *value = regex_trim((const char *)buf, (gssize)len);
	pcre2_substring_free(buf);
	return value;
}

/* Maps a negative pcre2_match() code other than "no match" to an error. */
static void
regex_set_match_error(int rc, gboolean over, GError **error)
{
	PCRE2_UCHAR text[256];

	pcre2_get_error_message(rc, text, sizeof text);
	if (over)
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_REGEX_LIMIT,
		            "search over %d s of processor time",
		            M2WO_REGEX_TIME_LIMIT);
	else if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	         rc == PCRE2_ERROR_HEAPLIMIT)
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_REGEX_LIMIT,
		            "PCRE2 %s", (const char *)text);
	else
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_INTERNAL,
		            "PCRE2 match failed: %s", (const char *)text);
}

int
regex_search(const pcre2_code *code, const char *text, gsize len,
             char **value, GError **error)
{
	pcre2_match_context *context = regex_match_context();
	regex_budget_t budget = {
		regex_cpu_us() + M2WO_REGEX_TIME_LIMIT * G_USEC_PER_SEC, 0, FALSE };
	pcre2_match_data *md;
	int rc;

	if (value != NULL)
		*value = NULL;
	if (context == NULL ||
	    (md = pcre2_match_data_create_from_pattern(code, NULL)) == NULL) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_INTERNAL,
		            "out of memory for a PCRE2 match");
		return -1;
	}
	/* The match limit counts per start position; the budget callout
	 * bounds the whole search. */
	pcre2_set_callout(context, regex_callout, &budget);
	rc = pcre2_match(code, (PCRE2_SPTR)(text ? text : ""),
	                 text ? len : 0, 0, 0, md, context);
	if (rc >= 0 && value != NULL)
		*value = regex_value(code, md);
	else if (rc == PCRE2_ERROR_NOMATCH && value != NULL)
		*value = g_strdup("");
	pcre2_match_data_free(md);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	regex_set_match_error(rc, budget.over, error);
	return -1;
}

/* Runs one rule; compiles it on first use. The value is set on 0 and 1. */
static int
regex_apply_one(m2wo_run_t *run, m2wo_regex_rule_t *rule, const char *kind,
                char **value, GError **error)
{
	const char *text;
	GError *local = NULL;
	int rc;

	if (rule->code == NULL) {
		rule->code = regex_compile(rule->pattern, FALSE, &local);
		if (rule->code == NULL) {
			g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
			            "%s.%s (line %d): %s", kind, rule->name,
			            rule->line, local->message);
			g_error_free(local);
			return -1;
		}
	}
	text = rule->subject ? run->msg->subject : run->msg->body;
	if (text == NULL)
		text = "";
	rc = regex_search(rule->code, text, strlen(text), value, &local);
	if (rc < 0) {
		if (local->code == M2WO_ERROR_REGEX_LIMIT)
			g_prefix_error(&local, "regex limit in %s.%s: ", kind,
			               rule->name);
		else
			g_prefix_error(&local, "%s.%s: ", kind, rule->name);
		g_propagate_error(error, local);
	}
	return rc;
}

int
regex_apply_rules(m2wo_run_t *run, GError **error)
{
	int matched = 0;

	g_return_val_if_fail(run != NULL && run->conf != NULL && run->msg != NULL,
	                     -1);
	if (run->params == NULL)
		run->params = g_hash_table_new_full(g_str_hash, g_str_equal,
		                                    g_free, g_free);
	if (run->conf->regex_rules == NULL)
		return 0;
	for (guint i = 0; i < run->conf->regex_rules->len; i++) {
		m2wo_regex_rule_t *rule = run->conf->regex_rules->pdata[i];
		const char *kind = rule->subject ? "subject_regex" : "regex";
		char *value = NULL;
		int rc = regex_apply_one(run, rule, kind, &value, error);

		if (rc < 0)
			return -1;
		if (rc > 0) {
			g_autofree char *shown = regex_excerpt(value,
			                                       REGEX_EXPLAIN_CHARS);

			explain(run, "%s.%s: captured \"%s\"", kind, rule->name,
			        shown);
			matched++;
		} else {
			explain(run, "%s.%s: no match", kind, rule->name);
		}
		g_hash_table_replace(run->params, g_strdup(rule->name), value);
	}
	return matched;
}
