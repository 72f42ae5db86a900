/*
 * m2wo.h: types, limits and module prototypes shared by every stage of m2wo.
 * Each stage (input, parse, text, classify, config, match, regex, template,
 * api, customer, workorder, outcome, audit, pipeline) has its prototypes
 * below under a comment naming it. Every limit is a named constant here and
 * is documented in m2wo.conf(5).
 */
#ifndef M2WO_H
#define M2WO_H

#include <glib.h>
#include <gmime/gmime.h>
#include <json-c/json.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Library types that g_autoptr() frees, declared once here. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_object, json_object_put)

/* ------------------------------------------------------------------ limits */

#define M2WO_DEF_MAX_MESSAGE_SIZE 26214400  /* bytes; max_message_size */
#define M2WO_MAX_HEADER_SIZE      (256 * 1024) /* bytes of the header block */
#define M2WO_MAX_MIME_DEPTH       32        /* nested multiparts/messages */
#define M2WO_MAX_PARTS            1000      /* MIME parts walked per message */
#define M2WO_MAX_TEXT_SIZE        (1024 * 1024) /* decoded body text bytes */
#define M2WO_MAX_FIELD_LEN        65536     /* bytes of one work-order field */
#define M2WO_MAX_ATTACH_TOTAL     (20 * 1024 * 1024) /* decoded attachment bytes */
#define M2WO_MAX_JSON_SIZE        (40 * 1024 * 1024) /* serialised work order */
#define M2WO_MAX_API_RESPONSE     (8 * 1024 * 1024)  /* bytes of one API answer */
#define M2WO_MAX_TOKEN_SIZE       4096      /* bytes of a token file */
#define M2WO_REGEX_MATCH_LIMIT    1000000   /* PCRE2 match limit */
#define M2WO_REGEX_DEPTH_LIMIT    10000     /* PCRE2 depth limit */
#define M2WO_REGEX_TIME_LIMIT     3         /* seconds of processor time of one search */
#define M2WO_MESSAGE_KEY_LEN      12

#define M2WO_DEF_API_URL          "https://app.out-smart.com/openapi/8"
#define M2WO_DEF_REQUEST_TIMEOUT  30        /* seconds */
#define M2WO_DEF_DEADLINE         300       /* seconds */
#define M2WO_DEF_WORKORDER_NO     "M2WO-{message_key}"

/* ------------------------------------------------------------------ errors */

#define M2WO_ERROR (m2wo_error_quark())
GQuark m2wo_error_quark(void);

/* What went wrong decides the outcome; outcome.c maps it. */
typedef enum {
	M2WO_ERROR_TEMP,       /* may pass: network, API 5xx, disk, deadline */
	M2WO_ERROR_CONFIG,     /* configuration problem (run time: tempfail) */
	M2WO_ERROR_TOO_LARGE,  /* message or header block over a limit */
	M2WO_ERROR_BAD_INPUT,  /* not a mail message at all */
	M2WO_ERROR_REJECT,     /* permanent refusal by the API */
	M2WO_ERROR_NOT_FOUND,  /* customer not found */
	M2WO_ERROR_INCOMPLETE, /* required work-order fields missing */
	M2WO_ERROR_REGEX_LIMIT,/* a pattern hit the PCRE2 match/depth limit */
	M2WO_ERROR_INTERNAL,
	M2WO_ERROR_DISK,       /* quarantine or state not safely written */
	M2WO_ERROR_DEADLINE,   /* the whole run took longer than deadline */
	M2WO_ERROR_DAILY_LIMIT,/* daily_limit reached: wait for tomorrow */
} m2wo_error_t;

/* ---------------------------------------------------------------- outcomes */

typedef enum {
	M2WO_OUTCOME_CREATED,
	M2WO_OUTCOME_DUPLICATE,
	M2WO_OUTCOME_DISCARDED,
	M2WO_OUTCOME_QUARANTINED,
	M2WO_OUTCOME_TEMPFAIL,
	M2WO_OUTCOME_UNMATCHED,
	M2WO_OUTCOME_CUSTOMER_NOT_FOUND,
	M2WO_OUTCOME_INCOMPLETE,
	M2WO_OUTCOME_REJECTED,
	M2WO_OUTCOME_TOO_LARGE,
} m2wo_outcome_t;

/* What to do with a message that will not become a work order. */
typedef enum {
	M2WO_POLICY_BOUNCE,
	M2WO_POLICY_DISCARD,
	M2WO_POLICY_QUARANTINE,
	M2WO_POLICY_PROCESS,   /* on_autoreply only */
} m2wo_policy_t;

/* ----------------------------------------------------------- configuration */

typedef struct m2wo_matcher m2wo_matcher_t;
typedef struct m2wo_customer_rule m2wo_customer_rule_t;

/* One regex.NAME or subject_regex.NAME rule. */
typedef struct {
	char *name;
	char *pattern;        /* raw, as written in the file */
	gboolean subject;     /* subject_regex.* rather than regex.* */
	int line;
	pcre2_code *code;     /* compiled on first use (regex_compile) */
} m2wo_regex_rule_t;

/* One forced.FIELD template. */
typedef struct {
	char *field;
	char *template;
	int line;
} m2wo_forced_t;

/* One [config NAME] group, [defaults] already merged in. */
typedef struct {
	char *name;
	int line;
	char *description;
	gboolean active;
	const m2wo_matcher_t *matcher;
	char **sender_values;  /* NULL-terminated; for *Regex types one pattern */
	pcre2_code *sender_code; /* *Regex types, compiled on first use */
	GPtrArray *customer_rules; /* const m2wo_customer_rule_t *, not owned */
	char *forced_debtor_number; /* template, or NULL */
	gboolean create_relation;
	gboolean parse_attachments;
	gboolean attach_original;
	GPtrArray *regex_rules;  /* m2wo_regex_rule_t *, owned, file order */
	GPtrArray *forced;       /* m2wo_forced_t *, owned, file order */
	/* A stub (confsnap.c, which owns it) holds only name, line, active,
	 * matcher and sender_values until match_pick loads it; last_line
	 * ends its group. */
	gboolean stub;
	int last_line;
} m2wo_mailconf_t;

typedef enum { M2WO_DEDUPE_API, M2WO_DEDUPE_OFF } m2wo_dedupe_t;

typedef struct m2wo_confsnap m2wo_confsnap_t;

/* The whole file. */
typedef struct {
	char *path;
	char *api_url;
	char *token_file;
	char *software_token_file;
	char *bearer_token_file;
	char *ca_file;
	int request_timeout;
	int deadline;
	gsize max_message_size;
	char *workorder_no;
	m2wo_dedupe_t dedupe;
	m2wo_policy_t on_unmatched;
	m2wo_policy_t on_autoreply;
	m2wo_policy_t on_reject;
	char *quarantine_dir;
	guint daily_limit;
	char *state_dir;
	int syslog_facility;
	char *audit_file;
	GPtrArray *mailconfs;    /* m2wo_mailconf_t *, owned, file order */
	/* Lines of the token keys, so that token problems name them. */
	int token_file_line;
	int software_token_file_line;
	int bearer_token_file_line;
	m2wo_confsnap_t *snapshot; /* owned; set when mailconfs are stubs */
} m2wo_config_t;

/* --------------------------------------------------------------- a message */

typedef struct {
	char *filename;          /* untrusted, sanitised to a plain base name */
	GBytes *data;            /* decoded content */
} m2wo_attachment_t;

typedef struct {
	GBytes *raw;             /* the bytes as received */
	GMimeMessage *mime;
	char *subject;           /* decoded UTF-8; "" when absent */
	char *from_address;      /* addr-spec of the first From; "" when absent */
	char *from_name;         /* decoded display name; "" when absent */
	char *reply_to;          /* addr-spec of Reply-To, or NULL */
	char *message_id;        /* without angle brackets, or NULL */
	char *queue_id;          /* Postfix's, from the topmost Received, or
	                          * NULL */
	char *body;              /* body text, UTF-8, "\n" line ends, capped */
	gboolean body_from_html; /* body came from a text/html part */
	gboolean body_truncated; /* body was cut at M2WO_MAX_TEXT_SIZE */
	char message_key[M2WO_MESSAGE_KEY_LEN + 1];
} m2wo_msg_t;

/* ------------------------------------------------------------- one run */

typedef struct m2wo_api m2wo_api_t;

/* Everything one message goes through; pipeline.c owns it. */
typedef struct {
	m2wo_config_t *config;
	/* envelope */
	char *sender;            /* NULL when not given at all; "" for <> */
	char *recipient;
	char *queue_id;
	const char *source;      /* file path in --drop mode, else NULL */
	/* modes */
	gboolean dry_run;
	gboolean offline;
	GString *explain;        /* non-NULL with --explain */
	gint64 started_us;       /* g_get_monotonic_time() at start */
	gint64 deadline_us;      /* absolute, monotonic */
	GDateTime *now;          /* local time of processing */
	/* stages */
	GBytes *raw;             /* the message as received */
	m2wo_msg_t *msg;
	const char *autoreply_signal; /* static string, or NULL */
	m2wo_mailconf_t *conf;
	GHashTable *params;      /* char * -> char *, template parameters */
	m2wo_api_t *api;         /* opened on first need, shared by --drop */
	json_object *relation;   /* found/created relation, owned */
	json_object *invoice_relation; /* relation for the Invoice fields, owned */
	char *adr_code;
	GPtrArray *work_objects; /* char *obj_code */
	json_object *workorder;  /* the work order object, owned */
	/* result */
	m2wo_outcome_t outcome;
	char *reason;            /* short, safe text for the audit line */
	char *dsn;               /* first output line, e.g. "5.6.0 ..." */
	char *workorder_no;
	gint64 row_id;           /* 0 when none */
	int api_code;            /* last API code, 0 when none */
	long http_status;        /* last HTTP status, 0 when none */
	guint attachments_skipped; /* over M2WO_MAX_ATTACH_TOTAL */
} m2wo_run_t;

/* explain.c: append a line to the --explain trace when there is one. */
void explain(m2wo_run_t *run, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* ------------------------------------------------------------------- input */

/* Reads all of fd into memory, refusing more than max bytes
 * (M2WO_ERROR_TOO_LARGE); a read that fails is M2WO_ERROR_INTERNAL (4.3.0:
 * the MTA keeps the message), no end by deadline_us (monotonic; 0: none)
 * M2WO_ERROR_DEADLINE. Returns a new GBytes. */
GBytes *input_read_fd(int fd, gsize max, gint64 deadline_us, GError **error);
/* The same for a file path. */
GBytes *input_read_file(const char *path, gsize max, GError **error);

/* ------------------------------------------------------------------- parse */

/* Parses raw bytes (kept by reference) into a new message: headers decoded,
 * body text extracted (text.c), message key computed. Errors:
 * M2WO_ERROR_TOO_LARGE (header block), M2WO_ERROR_BAD_INPUT (no header
 * first). g_mime_init() must have been called (main does it). */
m2wo_msg_t *msg_parse(GBytes *raw, GError **error);
void msg_free(m2wo_msg_t *msg);
/* The 12-character key of SPEC 3.6 ([0-9A-Z] without I, L, O, U) from a
 * SHA-256 checksum fed by the caller; also names created relations. */
void msg_key_digest(GChecksum *sum, char key[M2WO_MESSAGE_KEY_LEN + 1]);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(m2wo_msg_t, msg_free)

/* -------------------------------------------------------------------- text */

/* The body text of SPEC 3.4: first text/plain part, else first text/html
 * converted. Returns a new UTF-8 string; NULL with error only when the
 * HTML converter cannot be loaded (a broken installation: tempfail). */
char *text_body(GMimeMessage *message, gboolean *from_html, gboolean *truncated,
                GError **error);
/* Decodes bytes in a declared charset (NULL: unknown) to valid UTF-8 with
 * the fallbacks of SPEC 3.4. New string. */
char *text_bytes_to_utf8(const char *data, gsize len, const char *charset);
/* Decodes a part's content to valid UTF-8 whatever its charset. New string. */
char *text_part_to_utf8(GMimePart *part);
/* Makes text readable from HTML: blocks become line breaks, entities
 * decoded, scripts and styles dropped. New string; NULL with error when
 * libxml2 cannot be loaded. */
char *text_from_html(const char *html, gsize len, GError **error);
/* Loads libxml2 (soname) on first use; TRUE once it is loaded. */
gboolean html_library_open(const char *soname, GError **error);
/* Collects attachments (parts with a file name or disposition attachment,
 * outside the body text) up to max_total decoded bytes; returns how many
 * were skipped for the cap. Appends new m2wo_attachment_t * to out (give
 * it attachment_free as free function). */
guint text_attachments(GMimeMessage *message, gsize max_total, GPtrArray *out);
void attachment_free(m2wo_attachment_t *att);

/* ------------------------------------------------------------------ header */

/* Decodes an unstructured header value (RFC 2047 encoded words, folding,
 * raw 8-bit text) to valid UTF-8. New string. */
char *header_decode(const char *raw);

/* ---------------------------------------------------------------- classify */

/* Returns the name of the signal that marks the message as machine-generated
 * (static string, e.g. "auto-submitted", "empty-sender"), or NULL. sender is
 * the envelope sender: NULL when unknown (then a "Return-Path: <>" header
 * stands for it), "" for the null sender. */
const char *classify_autoreply(const m2wo_msg_t *msg, const char *sender);

/* ------------------------------------------------------------------ config */

#define M2WO_MAX_CONFIG_SIZE      (1024 * 1024) /* bytes of m2wo.conf */

/* Loads and validates a configuration file. Every problem is appended to
 * problems as "FILE:LINE: problem" (or "FILE: problem"); the result is NULL
 * when there is any (with compile_all, the token files of a file with other
 * problems are checked too, so that one run lists everything). With compile_all, every regex is compiled now (for
 * --check-config); otherwise compiling waits for first use. */
m2wo_config_t *config_load(const char *path, gboolean compile_all,
                           GPtrArray *problems);
void config_free(m2wo_config_t *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(m2wo_config_t, config_free)
/* Where a piece of a reduced text starts, and its line in the file. */
typedef struct {
	gsize offset;
	int line;
} m2wo_line_mark_t;
/* Whether line [p, end) is a [group] line by GKeyFile's rule; sets *name
 * (in the line) and *len to its name. The scan and the snapshot share it. */
gboolean conf_group_line(const char *p, const char *end, const char **name,
                         gsize *len);
/* config_load without compile_all on a reduced text of path: whole groups
 * of the file, in file order, each starting at a mark (so that problems
 * name the file's lines). Templates are checked only when it holds a mail
 * configuration: the rules they name may live in the others. */
m2wo_config_t *config_load_text(const char *path, const char *text,
                                const m2wo_line_mark_t *marks, guint n_marks,
                                GPtrArray *problems);
/* Checks the token files (exist, readable, not readable by group/others);
 * appends problems as above. Returns TRUE when there are none. */
gboolean config_check_tokens(const m2wo_config_t *config, GPtrArray *problems);
/* Reads one token file (white space trimmed), refusing files that others can
 * read. New string; M2WO_ERROR_CONFIG on failure. */
char *config_read_token(const char *path, GError **error);
const char *policy_to_string(m2wo_policy_t policy);

/* ---------------------------------------------------------------- confsnap */

struct stat;
/* The configuration of path from the snapshot in its state_dir, when one
 * fits text (len bytes) as read from the file st and this m2wo: global
 * settings loaded, mail configurations as stubs. Takes text over then;
 * else NULL (load it all). */
m2wo_config_t *confsnap_load(const char *path, char **text, gsize len,
                             const struct stat *st);
/* Writes the snapshot of a configuration that loaded without a problem
 * from text (len bytes, file st); failures only leave no snapshot. */
void confsnap_write(const m2wo_config_t *config, const char *text,
                    gsize len, const struct stat *st);
/* Loads stub i of config in full and puts it in its place (borrowed);
 * NULL with M2WO_ERROR_CONFIG "configuration: FILE:LINE: problem". */
m2wo_mailconf_t *confsnap_expand(m2wo_config_t *config, guint i,
                                 GError **error);
void confsnap_free(m2wo_confsnap_t *snap);

/* ------------------------------------------------------------------- match */

struct m2wo_matcher {
	const char *name;        /* sender_type value */
	/* -1 error, 0 no, 1 yes; appends a readable reason to why unless
	 * why is NULL (no --explain). */
	int (*match)(m2wo_mailconf_t *conf, const m2wo_run_t *run, GString *why,
	             GError **error);
	const char *describe;    /* "the From address equals a value" */
	gboolean regex;          /* sender_value is one PCRE2 pattern */
};

const m2wo_matcher_t *match_lookup(const char *name);
/* The n-th matcher of the table (0-based), NULL past the end: for listing
 * the known sender_type names. Static, not to be freed. */
const m2wo_matcher_t *match_nth(guint n);
/* Picks the first active configuration that accepts the message, explaining
 * each one tried. Returns 1 and sets run->conf, 0 when none, -1 on error. */
int match_pick(m2wo_run_t *run, GError **error);

/* ------------------------------------------------------------------- regex */

/* Compiles a pattern with UTF, UCP and invalid-UTF matching (\C refused, no
 * JIT). On failure, M2WO_ERROR_CONFIG "PCRE2 text at offset N". */
pcre2_code *regex_compile(const char *pattern, gboolean caseless,
                          GError **error);
/* Searches text (len bytes, may hold invalid UTF-8) under the match, depth
 * and time limits; -1 error (M2WO_ERROR_REGEX_LIMIT on a limit, else
 * M2WO_ERROR_INTERNAL), 0 no match, 1 match. With value non-NULL, sets it
 * to the rule value of SPEC 3.4 (group "value", else group 1, else the
 * whole match; an unset group is ""; trimmed, valid UTF-8; new string),
 * to "" on no match and to NULL on error. */
int regex_search(const pcre2_code *code, const char *text, gsize len,
                 char **value, GError **error);
/* Runs every regex rule of run->conf (compiling it on first use) and stores
 * {NAME} in run->params ("" when it does not match; the table is created
 * with g_free keys and values when NULL). Returns how many rules matched,
 * or -1: M2WO_ERROR_CONFIG for a pattern that does not compile,
 * M2WO_ERROR_REGEX_LIMIT ("regex limit in regex.NAME: ..."). */
int regex_apply_rules(m2wo_run_t *run, GError **error);
/* Copies text (len bytes, or -1 for NUL-terminated) as valid UTF-8 without
 * surrounding Unicode white space. New string; NULL text gives "". */
char *regex_trim(const char *text, gssize len);
/* One line of at most max_chars characters (line breaks become spaces, a
 * longer text ends in an ellipsis), for --explain. New string. */
char *regex_excerpt(const char *text, guint max_chars);

/* ---------------------------------------------------------------- template */

/* Expands {parameter} references; "{{" and "}}" are literal braces.
 * An unknown parameter is M2WO_ERROR_CONFIG. New string. */
char *template_expand(const char *tmpl, GHashTable *params, GError **error);
/* Validates syntax and that every parameter is a built-in one or in extra
 * (regex rule names). */
gboolean template_check(const char *tmpl, const char *const *extra,
                        GError **error);
/* NULL-terminated list of the built-in parameter names of SPEC 3.6. */
const char *const *template_builtin_names(void);
/* Fills run->params with the built-in parameters from run->msg, the
 * envelope, run->conf and run->now. */
void template_fill_params(m2wo_run_t *run);

/* --------------------------------------------------------------------- api */

/* How an API exchange ended (outsmart-api.md). */
typedef enum {
	M2WO_API_OK,         /* code 200 */
	M2WO_API_NOT_FOUND,  /* code 1500 */
	M2WO_API_TEMPFAIL,   /* transport, HTTP status, 1000-1009 */
	M2WO_API_REJECT,     /* 1300, 1301, 1501, 1504 and other permanent codes */
} m2wo_api_status_t;

typedef struct {
	m2wo_api_status_t status;
	long http;               /* HTTP status, 0 when no answer */
	int code;                /* API code, 0 when no envelope */
	json_object *response;   /* the envelope's "response", owned */
	GPtrArray *messages;     /* char *, the envelope's "messages" */
	const char *reason;      /* static, safe: "OutSmart API unreachable" */
} m2wo_api_reply_t;

/* Opens a client: reads the token files (M2WO_ERROR_CONFIG when unreadable
 * or readable by others), prepares one curl handle for the whole run. */
m2wo_api_t *api_open(const m2wo_config_t *config, GError **error);
void api_free(m2wo_api_t *api);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(m2wo_api_t, api_free)
/* Each request ends by deadline_us (monotonic) at the latest. */
void api_set_deadline(m2wo_api_t *api, gint64 deadline_us);
/* GET /ENDPOINT/ with filters: keys, values and ops are parallel arrays of n
 * items (ops "eq", "li", ...). Returns a new reply; never NULL. */
m2wo_api_reply_t *api_get(m2wo_api_t *api, const char *endpoint,
                          const char *const *keys, const char *const *values,
                          const char *const *ops, guint n);
/* GET /ENDPOINT/ with plain query parameters (NULL-terminated key, value
 * pairs), e.g. GetWorkorder's workorder_no and update_status. */
m2wo_api_reply_t *api_get_params(m2wo_api_t *api, const char *endpoint,
                                 const char *const *pairs);
/* POST /ENDPOINT/ with a JSON body (not consumed). */
m2wo_api_reply_t *api_post(m2wo_api_t *api, const char *endpoint,
                           json_object *body);
typedef struct m2wo_wo_text m2wo_wo_text_t;
/* POST /ENDPOINT/ with a work order's JSON (workorder_text_new), read
 * piece by piece while it is sent; text is used up. */
m2wo_api_reply_t *api_post_text(m2wo_api_t *api, const char *endpoint,
                                m2wo_wo_text_t *text);
void api_reply_free(m2wo_api_reply_t *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(m2wo_api_reply_t, api_reply_free)
/* Number of connections curl opened so far (for tests and --explain). */
long api_connections(m2wo_api_t *api);

/* ---------------------------------------------------------------- customer */

/* A regex value longer than this is no e-mail address, phone number,
 * postcode, street or code: the customer rules do not look it up. */
#define M2WO_MAX_LOOKUP_VALUE     256       /* bytes */

struct m2wo_customer_rule {
	const char *name;        /* customer_rules value */
	/* -1 error (API tempfail), 0 not found, 1 found: sets run->relation
	 * (and adr_code, work_objects). Explains its query and answer. */
	int (*find)(m2wo_run_t *run, GError **error);
	const char *describe;
};

const m2wo_customer_rule_t *customer_rule_lookup(const char *name);
/* Finds (or creates) the relation of run->conf: forced_debtor_number first,
 * then the rules in order, then create_relation. 1 found, 0 not found,
 * -1 error (M2WO_ERROR_TEMP or M2WO_ERROR_REJECT). Also sets
 * run->invoice_relation. Offline runs skip the look-ups and return 1. */
int customer_resolve(m2wo_run_t *run, GError **error);

/* ------------------------------------------------------- customer internals */

/* Shared by custfold.c, customer.c, custrule.c and relation.c only, which
 * together find or create the relation of a message; no other stage calls
 * them. */

/* One broad look-up and the exact test its records must pass. */
typedef struct customer_scan customer_scan_t;
struct customer_scan {
	const char *endpoint;    /* "relations", "addresses", "objects" */
	const char *key;         /* filter field */
	const char *op;          /* "li" */
	const char *pattern;     /* filter value */
	const char *id_field;    /* what makes two records the same one */
	const char *label_field; /* what a mail administrator recognises */
	/* TRUE when rec is what the rule looks for; says why in why. */
	gboolean (*test)(const customer_scan_t *scan, json_object *rec, GString *why);
	const char *want[3];     /* normalised values the test compares with */
};

/* custfold.c: the folds return new strings; custfold_field's text belongs
 * to rec, custfold_domain's to folded. custfold_address is NULL for no
 * address. */
const char *custfold_field(json_object *rec, const char *field);
char *custfold_text(const char *text);
gboolean custfold_equal(const char *a, const char *b);
char *custfold_address(const char *text);
const char *custfold_domain(const char *folded);
char *custfold_phone(const char *text);
char *custfold_phone_first(const char *text);
char *custfold_zip(const char *text);
/* *name and *number are new strings, either may be "". */
void custfold_street_split(const char *text, char **name, char **number);
char *custfold_number(const char *text);
/* The exact tests a customer_scan_t names. */
gboolean custfold_test_email(const customer_scan_t *scan, json_object *rec, GString *why);
gboolean custfold_test_phone(const customer_scan_t *scan, json_object *rec, GString *why);
gboolean custfold_test_street(const customer_scan_t *scan, json_object *rec, GString *why);
gboolean custfold_test_key(const customer_scan_t *scan, json_object *rec, GString *why);

/* customer.c: the message values the rules use (never NULL; owned by run);
 * the relation with a debtor number (-1/0/1, *relation a new reference);
 * customer_set_relation takes over relation as run->relation. */
const char *customer_param(m2wo_run_t *run, const char *name);
const char *customer_from(const m2wo_run_t *run);
int customer_by_debtor(m2wo_run_t *run, const char *number,
                       json_object **relation, GError **error);
void customer_set_relation(m2wo_run_t *run, json_object *relation);
/* customer.c, for the rules: a LIKE value that matches at least text and a
 * bounded quote for --explain (new strings); an array for hits that owns
 * its references; customer_scan adds what passes scan->test to hits (0, or
 * -1 on error); customer_take gives the one hit as a new reference in
 * *found (1), else explains why none counts (0). */
char *customer_like_literal(const char *text);
char *customer_quoted(const char *text);
GPtrArray *customer_hits_new(void);
int customer_scan(m2wo_run_t *run, const customer_scan_t *scan,
                  GPtrArray *hits, GError **error);
int customer_take(m2wo_run_t *run, GPtrArray *hits, const customer_scan_t *scan,
                  json_object **found);

/* relation.c: create_relation, after the rules found nothing: 1 created (or
 * found from an earlier run, or a dry run), 0 not possible, -1 error. */
int customer_create(m2wo_run_t *run, GError **error);

/* --------------------------------------------------------------- workorder */

/* Whether FIELD is a PostWorkorders field that forced.FIELD may set. */
gboolean workorder_field_known(const char *field);
/* Builds run->workorder (owned by run) and sets run->workorder_no: in this
 * order WorkorderNo (the workorder_no template), the customer fields from
 * run->relation and run->invoice_relation (or run->relation), AdrCode,
 * WorkObjects, the forced values (they win; an empty one keeps what was
 * there), attachments. Strings are valid UTF-8, cut at M2WO_MAX_FIELD_LEN.
 * Errors: M2WO_ERROR_CONFIG for a template problem or a field forced.* may
 * not set, M2WO_ERROR_REJECT for a forced value that does not fit its type
 * ("forced.WorkDuration is not a number"), M2WO_ERROR_TOO_LARGE when the
 * JSON is over M2WO_MAX_JSON_SIZE. The Data of an attachment of 64 KiB or
 * more holds its bytes (or their base64 text in the message) and writes
 * that only when serialised: json_object_get_string() on it gives "". */
gboolean workorder_build(m2wo_run_t *run, GError **error);
/* Appends the names of required fields that are absent or empty after
 * trimming, in outsmart-api.md's order (skipping the Customer* fields when
 * skip_customer, for --offline). The names are static strings of the field
 * table: create missing without a free function. Returns how many. */
guint workorder_missing(json_object *workorder, gboolean skip_customer,
                        GPtrArray *missing);
/* Serialises [workorder] (a JSON array of the one work order) for posting,
 * or pretty for --dry-run; "/" is not escaped. New string, caller frees. */
char *workorder_to_json(json_object *workorder, gboolean pretty);
/* The same JSON in pieces, for sending: the base64 of large attachments is
 * written only as it is read, so that the text is never whole in memory.
 * It keeps what it needs of workorder. New, free with workorder_text_free. */
m2wo_wo_text_t *workorder_text_new(json_object *workorder, gboolean pretty);
/* Bytes of the whole JSON. */
gsize workorder_text_length(const m2wo_wo_text_t *text);
/* Copies the next at most max bytes to buf; returns how many, 0 at the
 * end. */
gsize workorder_text_read(m2wo_wo_text_t *text, char *buf, gsize max);
void workorder_text_free(m2wo_wo_text_t *text);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(m2wo_wo_text_t, workorder_text_free)

/* ----------------------------------------------------------------- outcome */

const char *outcome_to_string(m2wo_outcome_t outcome);
/* The sysexits code of SPEC 5. */
int outcome_exit_code(m2wo_outcome_t outcome);
/* Sets run->outcome, run->reason and run->dsn from an error of the stages
 * (M2WO_ERROR domain; anything else is internal, so tempfail). */
void outcome_from_error(m2wo_run_t *run, const GError *error);
/* Sets run->outcome and run->reason, and the fixed DSN text for it. */
void outcome_set(m2wo_run_t *run, m2wo_outcome_t outcome, const char *reason);
/* The temporary-failure DSN texts (SPEC 5); the only place they are written.
 * outcome_from_error gives M2WO_ERROR_TEMP the API one; callers that know a
 * more exact cause pass its text to outcome_tempfail. */
#define M2WO_DSN_API_UNREACHABLE "4.4.1 OutSmart API unreachable"
#define M2WO_DSN_CONFIG          "4.3.5 m2wo configuration error"
#define M2WO_DSN_DEADLINE        "4.4.7 m2wo deadline exceeded"
#define M2WO_DSN_INTERNAL        "4.3.0 m2wo internal error"
#define M2WO_DSN_DAILY_LIMIT     "4.7.0 daily work-order limit reached"
#define M2WO_DSN_DISK            "4.3.1 disk full or unwritable"
/* Sets the tempfail outcome with one of the M2WO_DSN_* texts above. */
void outcome_tempfail(m2wo_run_t *run, const char *dsn, const char *reason);

/* ------------------------------------------------------------------- audit */

#define M2WO_MAX_AUDIT_VALUE      200       /* bytes of one audit value */

/* Opens syslog with ident "m2wo" and the configured facility. */
void audit_open(int facility);
/* Makes text fit for a log line: valid UTF-8, control characters as spaces,
 * at most max bytes, cut at a character boundary. New string. */
char *audit_clean(const char *text, gsize max);
/* Formats the SPEC 5 key=value line for run. New string. */
char *audit_format_line(const m2wo_run_t *run, int exit_code);
/* Formats the same record as one JSON object (no newline). New string. */
char *audit_format_json(const m2wo_run_t *run, int exit_code);
/* Writes the line to syslog and the JSON record to audit_file (if any);
 * dry runs write the line to stderr instead. */
void audit_write(const m2wo_run_t *run, int exit_code);

/* -------------------------------------------------------------- quarantine */

/* Writes all len bytes of data to fd through signals and short writes;
 * FALSE with errno set on failure (the snapshot writer uses it too). */
gboolean m2wo_write_all(int fd, const char *data, gsize len);

/* Writes run->raw into the quarantine Maildir (tmp, fsync, link into new)
 * with X-M2WO-Outcome and X-M2WO-Reason in front. M2WO_ERROR_DISK when the
 * message is not safely on disk, M2WO_ERROR_CONFIG without quarantine_dir. */
gboolean quarantine_write(m2wo_run_t *run, const char *outcome,
                          const char *reason, GError **error);
/* Returns raw without the two X-M2WO-* header lines quarantine_write added
 * (a new reference when they are not there). */
GBytes *quarantine_strip(GBytes *raw);

/* ------------------------------------------------------------------- limit */

/* Counts one work order against daily_limit in state_dir under a file lock;
 * M2WO_ERROR_DAILY_LIMIT when today's count is reached, M2WO_ERROR_DISK when
 * the counter cannot be read or written safely. */
gboolean limit_take(m2wo_run_t *run, GError **error);

/* ---------------------------------------------------------------- pipeline */

m2wo_run_t *run_new(m2wo_config_t *config);
void run_free(m2wo_run_t *run);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(m2wo_run_t, run_free)
/* Runs one message through every stage, applies the policies and sets the
 * outcome; returns the exit code. Writes nothing to stdout or syslog. */
int pipeline_run(m2wo_run_t *run, GBytes *raw);

/* -------------------------------------------------------------------- drop */

/* WorkOrder Drop: every message in paths (files, folders of .eml, Maildirs)
 * through pipeline_run with run's envelope and modes, one result line each
 * and a summary. Returns 0 when every message ended well, 75 when any may
 * pass later, else 65. */
int drop_run(m2wo_run_t *run, char **paths);

#endif /* M2WO_H */
