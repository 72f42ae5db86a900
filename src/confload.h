/*
 * confload.h: what the four files that load m2wo.conf (config.c, confscan.c,
 * confmain.c, confmail.c) share while loading one file: the scanned groups
 * and keys, the load's state and the helpers they call across files.
 * Private to those four: no other file includes it, and nothing here is
 * part of m2wo.h, the stages' public header.
 */
#ifndef M2WO_CONFLOAD_H
#define M2WO_CONFLOAD_H

#include "m2wo.h"

#define GROUP_MAIN     "m2wo"
#define GROUP_DEFAULTS "defaults"

/* The known keys of a [config NAME] or [defaults] group, in the order of
 * mailconf_keys (confmail.c). */
enum {
	MK_DESCRIPTION, MK_ACTIVE, MK_SENDER_TYPE, MK_SENDER_VALUE,
	MK_CUSTOMER_RULES, MK_FORCED_DEBTOR_NUMBER, MK_CREATE_RELATION,
	MK_PARSE_ATTACHMENTS, MK_ATTACH_ORIGINAL, MK_COUNT
};

/* Where a key sits in the file. A key written twice counts where GKeyFile
 * takes its value from: the last time. */
typedef struct {
	const char *key;         /* in the scanned copy of the text */
	int line;
	/* What the key is, sorted once by conf_classify_keys. */
	int known;               /* index in the group's key list, or -1 */
	const char *prefix;      /* "regex." and so, else NULL */
	const char *suffix;      /* the part after prefix */
	gboolean name_ok;        /* suffix is a valid parameter name */
	gboolean field_known;    /* forced.FIELD: a field m2wo may set */
} scan_key_t;

/* One group as GKeyFile sees it: repeated headers merge into one. */
typedef struct {
	const char *name;        /* in the scanned copy of the text */
	int line;                /* first header */
	GArray *keys;            /* scan_key_t, first-seen order */
	GHashTable *index;       /* key -> position + 1, for large groups */
	gboolean classified;
	const scan_key_t *slot[MK_COUNT]; /* known keys of a mail config group */
} scan_group_t;

/* What loading one configuration leaves for the template checks. */
typedef struct {
	m2wo_mailconf_t *conf;
	const scan_group_t *group;
	guint own_forced;        /* conf->forced[0 .. own_forced) are its own */
	const char **rule_names; /* its regex rule names, NULL-terminated */
} conf_load_t;

/* Everything one config_load needs. */
typedef struct {
	const char *path;
	char *dir;               /* relative paths in values are relative to it */
	GPtrArray *found;        /* problem_t *, handed over in line order */
	gboolean compile_all;
	gboolean reduced;        /* config_load_text: groups left out */
	const m2wo_line_mark_t *marks; /* its pieces' line numbers */
	guint n_marks;
	GKeyFile *kf;
	char *scanned;           /* the text, cut into names by the scan */
	GPtrArray *groups;       /* scan_group_t *, file order */
	GHashTable *group_index; /* name -> scan_group_t * */
	scan_group_t *main;      /* [m2wo], or NULL */
	scan_group_t *defaults;  /* [defaults], or NULL */
	m2wo_config_t *config;
	GPtrArray *confs;        /* conf_load_t *, one per mailconf, same order */
	GHashTable *conf_names;  /* NAME of each mailconf (its conf->name) */
	GHashTable *fields;      /* forced.FIELD name -> workorder_field_known */
} load_t;

/* ---------------------------------------------------------------- config.c */

/* Records "FILE:LINE: text" (line 0: "FILE: text") for the load. */
void conf_problem(load_t *ld, int line, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

/* -------------------------------------------------------------- confscan.c */

/* Scans text into ld->groups, reporting lines GKeyFile would refuse;
 * FALSE when there was one. The names point into ld->scanned. */
gboolean scan_text(load_t *ld, const char *text);
scan_key_t *scan_key_find(const scan_group_t *group, const char *name);
void scan_group_free(scan_group_t *group);
/* The NAME of a "[config NAME]" group (new string), or NULL. */
char *config_group_name(const char *group);
void conf_classify_keys(load_t *ld, scan_group_t *group,
                        const char *const *known, gboolean mailconf);
void conf_check_keys(load_t *ld, scan_group_t *group,
                     const char *const *known, gboolean mailconf);
gboolean conf_key_is_forced(const scan_key_t *k);
/* The readers return new strings (conf_get_list a new NULL-terminated
 * array), or NULL; k NULL means the key is absent. */
char *conf_get_string(load_t *ld, const scan_group_t *group,
                      const scan_key_t *k);
char *conf_get_raw(load_t *ld, const scan_group_t *group,
                   const scan_key_t *k);
char **conf_get_list(load_t *ld, const scan_group_t *group,
                     const scan_key_t *k);
void conf_get_bool(load_t *ld, const scan_group_t *group,
                   const scan_key_t *k, gboolean *out);

/* -------------------------------------------------------------- confmain.c */

extern const char *const conf_main_keys[];
int conf_main_line(load_t *ld, const char *key);
void conf_load_main(load_t *ld);

/* -------------------------------------------------------------- confmail.c */

void conf_load_all(load_t *ld);
void conf_load_free(conf_load_t *cl);
void mailconf_free(m2wo_mailconf_t *conf);

#endif
