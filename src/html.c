/*
 * html.c: turns an HTML body into readable plain text with libxml2's HTML
 * parser (entities decoded by the parser, blocks become line breaks, list
 * items get "- ", scripts and styles dropped). It must never print parser
 * errors, never fetch anything (no network, no DTD) and never recurse
 * without bound: the tree is walked iteratively.
 *
 * libxml2 is loaded with dlopen(3) on the first HTML-only body, not linked:
 * with ICU and libstdc++ behind it, it is six of the libraries the loader
 * would map and relocate before every run, and most mail has a text/plain
 * part and never needs it.
 */
#include "config.h"

#include <dlfcn.h>
#include <string.h>

#include <libxml/HTMLparser.h>
#include <libxml/xmlerror.h>

#include "m2wo.h"

#define HTML_PARSE_FLAGS (HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | \
                          HTML_PARSE_NOWARNING | HTML_PARSE_NONET)

/* How an element affects the text around it. */
typedef enum {
	HTML_INLINE,
	HTML_SKIP,      /* dropped with everything inside */
	HTML_LINE,      /* starts and ends on its own line */
	HTML_PARAGRAPH, /* a blank line before and after */
	HTML_BREAK,     /* <br>: one line break */
	HTML_ITEM,      /* <li>: own line, "- " in front */
	HTML_CELL,      /* <td>, <th>: separated by a space */
	HTML_PRE,       /* white space kept */
} html_kind_t;

static const struct {
	const char *name;
	html_kind_t kind;
} html_kinds[] = {
	{ "script", HTML_SKIP }, { "style", HTML_SKIP }, { "head", HTML_SKIP },
	{ "title", HTML_SKIP }, { "template", HTML_SKIP },
	{ "noscript", HTML_SKIP }, { "object", HTML_SKIP },
	{ "br", HTML_BREAK }, { "li", HTML_ITEM }, { "dt", HTML_ITEM },
	{ "td", HTML_CELL }, { "th", HTML_CELL }, { "pre", HTML_PRE },
	{ "p", HTML_PARAGRAPH }, { "h1", HTML_PARAGRAPH },
	{ "h2", HTML_PARAGRAPH }, { "h3", HTML_PARAGRAPH },
	{ "h4", HTML_PARAGRAPH }, { "h5", HTML_PARAGRAPH },
	{ "h6", HTML_PARAGRAPH }, { "blockquote", HTML_PARAGRAPH },
	{ "table", HTML_PARAGRAPH }, { "ul", HTML_LINE },
	{ "ol", HTML_LINE }, { "dl", HTML_LINE },
	{ "hr", HTML_PARAGRAPH }, { "div", HTML_LINE }, { "tr", HTML_LINE },
	{ "dd", HTML_LINE }, { "address", HTML_LINE },
	{ "article", HTML_LINE }, { "section", HTML_LINE },
	{ "header", HTML_LINE }, { "footer", HTML_LINE },
	{ "nav", HTML_LINE }, { "aside", HTML_LINE }, { "main", HTML_LINE },
	{ "figure", HTML_LINE }, { "figcaption", HTML_LINE },
	{ "form", HTML_LINE }, { "fieldset", HTML_LINE },
	{ "center", HTML_LINE }, { "caption", HTML_LINE },
	{ "thead", HTML_LINE }, { "tbody", HTML_LINE }, { "tfoot", HTML_LINE },
};

/* The text being built and what is owed before the next visible text. */
typedef struct {
	GString *out;
	int newlines;       /* line breaks owed, at most 2 */
	gboolean space;     /* a space owed */
	int pre;            /* inside how many <pre> */
} html_text_t;

static html_kind_t
html_kind(const xmlNode *node)
{
	for (gsize i = 0; i < G_N_ELEMENTS(html_kinds); i++) {
		if (g_ascii_strcasecmp((const char *) node->name,
		                       html_kinds[i].name) == 0)
			return html_kinds[i].kind;
	}
	return HTML_INLINE;
}

/* libxml2 would print to stderr without this, NOERROR notwithstanding for
 * a few encoding messages; the bounce text must stay ours. */
static void
html_silent(void *ctx, const char *msg, ...)
{
}

static void
html_silent_structured(void *ctx, xmlErrorPtr error)
{
}

/* The libxml2 functions m2wo calls, once loaded. */
static struct {
	__typeof__(htmlReadMemory) *read_memory;
	__typeof__(xmlDocGetRootElement) *root_element;
	__typeof__(xmlFreeDoc) *free_doc;
} html_xml;

/* Looks up one symbol; FALSE with error when it is missing. */
static gboolean
html_symbol(void *lib, const char *soname, const char *name, void **fn,
            GError **error)
{
	*fn = dlsym(lib, name);
	if (*fn != NULL)
		return TRUE;
	g_set_error(error, M2WO_ERROR, M2WO_ERROR_INTERNAL,
	            "%s has no %s", soname, name);
	return FALSE;
}

gboolean
html_library_open(const char *soname, GError **error)
{
	void *lib;
	void *fn[5];

	if (html_xml.read_memory != NULL)
		return TRUE;
	lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_INTERNAL,
		            "cannot load %s for an HTML body: %s", soname,
		            dlerror());
		return FALSE;
	}
	if (!html_symbol(lib, soname, "htmlReadMemory", &fn[0], error) ||
	    !html_symbol(lib, soname, "xmlDocGetRootElement", &fn[1], error) ||
	    !html_symbol(lib, soname, "xmlFreeDoc", &fn[2], error) ||
	    !html_symbol(lib, soname, "xmlSetGenericErrorFunc", &fn[3], error) ||
	    !html_symbol(lib, soname, "xmlSetStructuredErrorFunc", &fn[4],
	                 error)) {
		dlclose(lib);
		return FALSE;
	}
	((__typeof__(xmlSetGenericErrorFunc) *) fn[3])(NULL, html_silent);
	((__typeof__(xmlSetStructuredErrorFunc) *) fn[4])(
	    NULL, html_silent_structured);
	html_xml.root_element = fn[1];
	html_xml.free_doc = fn[2];
	html_xml.read_memory = fn[0];
	return TRUE;
}

static void
html_want_newlines(html_text_t *t, int n)
{
	t->newlines = MAX(t->newlines, n);
}

/* Pays the owed line breaks or space before visible text. Trailing
 * spaces before a line break are dropped. */
static void
html_flush(html_text_t *t)
{
	if (t->out->len == 0) {
		t->newlines = 0;
		t->space = FALSE;
		return;
	}
	if (t->newlines > 0) {
		while (t->out->len > 0 && t->out->str[t->out->len - 1] == ' ')
			g_string_truncate(t->out, t->out->len - 1);
		for (int i = 0; i < t->newlines; i++)
			g_string_append_c(t->out, '\n');
	} else if (t->space) {
		g_string_append_c(t->out, ' ');
	}
	t->newlines = 0;
	t->space = FALSE;
}

static gboolean
html_is_space(gunichar c)
{
	/* U+00A0 counts too: &nbsp; runs are layout, not content. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == 0xA0;
}

/* Text outside <pre>: runs of white space become one space. */
static void
html_add_flowing(html_text_t *t, const char *text)
{
	for (const char *p = text; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (html_is_space(c)) {
			t->space = TRUE;
			continue;
		}
		html_flush(t);
		g_string_append_unichar(t->out, c);
	}
}

/* Text inside <pre>: kept, but never more than one blank line. */
static void
html_add_pre(html_text_t *t, const char *text)
{
	for (const char *p = text; *p; p++) {
		if (*p == '\n') {
			if (t->out->len > 0)
				t->newlines = MIN(t->newlines + 1, 2);
			t->space = FALSE;
			continue;
		}
		html_flush(t);
		g_string_append_c(t->out, *p);
	}
}

static void
html_enter(html_text_t *t, html_kind_t kind)
{
	switch (kind) {
	case HTML_BREAK:
		if (t->out->len > 0)
			t->newlines = MIN(t->newlines + 1, 2);
		break;
	case HTML_ITEM:
		html_want_newlines(t, 1);
		html_flush(t);
		g_string_append(t->out, "- ");
		break;
	case HTML_CELL:
		t->space = TRUE;
		break;
	case HTML_PRE:
		html_want_newlines(t, 2);
		t->pre++;
		break;
	case HTML_PARAGRAPH:
		html_want_newlines(t, 2);
		break;
	case HTML_LINE:
		html_want_newlines(t, 1);
		break;
	default:
		break;
	}
}

static void
html_leave(html_text_t *t, html_kind_t kind)
{
	switch (kind) {
	case HTML_PRE:
		t->pre--;
		html_want_newlines(t, 2);
		break;
	case HTML_PARAGRAPH:
		html_want_newlines(t, 2);
		break;
	case HTML_LINE:
	case HTML_ITEM:
		html_want_newlines(t, 1);
		break;
	case HTML_CELL:
		t->space = TRUE;
		break;
	default:
		break;
	}
}

static void
html_visit_text(html_text_t *t, const xmlNode *node)
{
	if (node->content == NULL)
		return;
	if (t->pre > 0)
		html_add_pre(t, (const char *) node->content);
	else
		html_add_flowing(t, (const char *) node->content);
}

/* Depth-first walk without recursion: the parser bounds the depth, but a
 * loop needs no stack at all. */
static void
html_walk(html_text_t *t, xmlNode *root)
{
	xmlNode *node = root;

	while (node != NULL) {
		gboolean descend = FALSE;

		if (node->type == XML_ELEMENT_NODE) {
			html_kind_t kind = html_kind(node);

			if (kind != HTML_SKIP) {
				html_enter(t, kind);
				descend = node->children != NULL;
				if (!descend)
					html_leave(t, kind);
			}
		} else if (node->type == XML_TEXT_NODE ||
		           node->type == XML_CDATA_SECTION_NODE) {
			html_visit_text(t, node);
		}
		if (descend) {
			node = node->children;
			continue;
		}
		/* Climb until a sibling, closing the elements left behind. */
		while (node != root && node->next == NULL) {
			node = node->parent;
			if (node->type == XML_ELEMENT_NODE)
				html_leave(t, html_kind(node));
		}
		node = node == root ? NULL : node->next;
	}
}

char *
text_from_html(const char *html, gsize len, GError **error)
{
	html_text_t t;
	htmlDocPtr doc;

	if (!html_library_open(M2WO_LIBXML2_SONAME, error))
		return NULL;
	t = (html_text_t) { .out = g_string_new(NULL) };
	if (html == NULL || len == 0)
		return g_string_free(t.out, FALSE);
	/* The text was made UTF-8 before; a <meta charset> must not undo it. */
	doc = html_xml.read_memory(html, (int) MIN(len, (gsize) G_MAXINT), NULL,
	                           "UTF-8", HTML_PARSE_FLAGS);
	if (doc != NULL) {
		xmlNode *root = html_xml.root_element(doc);

		if (root != NULL)
			html_walk(&t, root);
		html_xml.free_doc(doc);
	}
	while (t.out->len > 0 && g_ascii_isspace(t.out->str[t.out->len - 1]))
		g_string_truncate(t.out, t.out->len - 1);
	return g_string_free(t.out, FALSE);
}
