/*
 * test-header.c: unit tests for header.c, the decoder of unstructured
 * header values (RFC 2047 encoded words, folding, raw 8-bit text).
 */
#include "config.h"

#include "m2wo.h"

typedef struct {
	const char *name;
	const char *raw;
	const char *want;
} header_case_t;

static const header_case_t header_cases[] = {
	{ "plain", "Lekkage badkamer", "Lekkage badkamer" },
	{ "null", NULL, "" },
	{ "q-word", "=?ISO-8859-1?Q?Storing_caf=E9?=", "Storing café" },
	{ "b-word", "=?UTF-8?B?U3RvcmluZyBjYWbDqQ==?=", "Storing café" },
	/* GMime 3.2.13 stops after the first, padded word. */
	{ "two-padded-b-words",
	  "=?UTF-8?B?V2FzYmFrIGxla3Qg4oCTIGRyaW5nZW5kLCA=?=\r\n"
	  " =?UTF-8?B?4oCYdmFuZGFhZ+KAmSBncmFhZw==?=",
	  "Wasbak lekt – dringend, ‘vandaag’ graag" },
	/* "é" is C3 A9: one byte in each word. */
	{ "char-split-across-words", "=?UTF-8?Q?caf=C3?= =?UTF-8?Q?=A9?=",
	  "café" },
	{ "charsets-change", "=?ISO-8859-1?Q?=E9?= =?UTF-8?Q?=C3=A9?=", "éé" },
	{ "text-between-words-kept", "=?UTF-8?Q?a?= en =?UTF-8?Q?b?=",
	  "a en b" },
	{ "space-between-words-dropped", "=?UTF-8?Q?a?=   \t =?UTF-8?Q?b?=",
	  "ab" },
	{ "folding", "Storing\r\n cv-ketel", "Storing cv-ketel" },
	{ "lowercase-encoding", "=?utf-8?q?hoi_daar?=", "hoi daar" },
	{ "rfc2231-language", "=?UTF-8*nl?Q?Sto=C3=B6ring?=", "Stoöring" },
	{ "not-a-word", "prijs =? 10 ?= euro", "prijs =? 10 ?= euro" },
	{ "space-inside-is-not-a-word", "=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?=" },
	{ "raw-utf8", "Storing caf\xc3\xa9", "Storing café" },
	{ "raw-latin1", "Storing caf\xe9", "Storing café" },
	{ "unknown-charset", "=?x-unknown?Q?abc?=", "abc" },
	{ "bad-base64-never-crashes", "=?UTF-8?B?!!!?=", "" },
	{ "broken-utf8-becomes-fffd", "=?UTF-8?Q?=C3=A9=FFb?=", "é\xef\xbf\xbd" "b" },
	/* Not one UTF-8 character: a mislabelled windows-1252 word. */
	{ "mislabelled-utf8", "=?UTF-8?Q?a=FF=FEb?=", "aÿþb" },
};

static void
test_header_case(gconstpointer data)
{
	const header_case_t *c = data;
	g_autofree char *got = header_decode(c->raw);

	if (g_strcmp0(got, c->want) != 0)
		g_test_fail_printf("%s: got \"%s\", want \"%s\"", c->name, got,
		    c->want);
	g_assert_true(g_utf8_validate(got, -1, NULL));
}

int
main(int argc, char **argv)
{
	guint i;

	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	for (i = 0; i < G_N_ELEMENTS(header_cases); i++) {
		g_autofree char *path = g_strdup_printf("/header/%s",
		    header_cases[i].name);

		g_test_add_data_func(path, &header_cases[i], test_header_case);
	}
	return g_test_run();
}
