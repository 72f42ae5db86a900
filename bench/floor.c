/*
 * floor.c: the start-up floor for m2wo's benchmark. It links the same five
 * libraries as m2wo (GMime, GLib, PCRE2, libcurl, json-c; m2wo loads
 * libxml2 only for HTML-only mail), does the least a program using them
 * must do (g_mime_init, curl_global_init, one PCRE2 compile and match, one
 * tiny JSON parse) and exits. Whatever m2wo costs above this is its own
 * work.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <gmime/gmime.h>
#include <json-c/json.h>
#include <pcre2.h>

int
main(void)
{
	int code;
	PCRE2_SIZE offset;
	pcre2_code *re;
	pcre2_match_data *md;
	json_object *obj;
	int rc;

	g_mime_init();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	re = pcre2_compile((PCRE2_SPTR)"(?m)^Postcode:\\s*(\\d{4}\\s?[A-Z]{2})",
	    PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &offset, NULL);
	if (re == NULL)
		return 1;
	md = pcre2_match_data_create_from_pattern(re, NULL);
	rc = pcre2_match(re, (PCRE2_SPTR)"Postcode: 3512 AB", 17, 0, 0, md,
	    NULL);
	obj = json_tokener_parse("{\"code\":200,\"messages\":[],\"response\":[]}");
	if (obj == NULL || rc < 0)
		return 1;
	json_object_put(obj);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	curl_global_cleanup();
	g_mime_shutdown();
	return 0;
}
