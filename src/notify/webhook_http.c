/*-------------------------------------------------------------------------
 *
 * webhook_http.c
 *	  POST one notification to a webhook with libcurl: JSON body, a stable
 *	  Idempotency-Key, an HMAC-SHA256 signature of the body with the
 *	  channel's secret (PostgreSQL's own common/hmac.h), connect and total
 *	  timeouts, no redirects, http/https only.
 *
 * dr_http_post() is called only by the notifier worker, outside any
 * transaction and with no lock held (the signature is computed beforehand,
 * inside one): a slow or hung endpoint costs the notifier at most the total
 * timeout, and never a user backend or the lag sampler.  A pending SIGTERM
 * aborts a transfer through the progress callback.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "common/hmac.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "utils/timestamp.h"

#include "webhook_http.h"

static bool curl_ready = false;

void
dr_http_init(void)
{
	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
			elog(ERROR, "could not initialize libcurl");
		curl_ready = true;
	}
}

/*
 * dr_hmac_sha256_hex
 *		Hex HMAC-SHA256 of body keyed with secret (palloc'd).  Call it inside
 *		a transaction: with OpenSSL, PostgreSQL tracks HMAC contexts in the
 *		current resource owner.
 */
char *
dr_hmac_sha256_hex(const char *secret, const char *body)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	uint8		mac[32];
	char	   *hex = palloc(65);
	int			i;

	if (ctx == NULL ||
		pg_hmac_init(ctx, (const uint8 *) secret, strlen(secret)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) body, strlen(body)) < 0 ||
		pg_hmac_final(ctx, mac, sizeof(mac)) < 0)
		elog(ERROR, "could not compute HMAC-SHA256: %s", ctx ? pg_hmac_error(ctx) : "out of memory");
	pg_hmac_free(ctx);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	return hex;
}

/* Abort a transfer when the worker is asked to stop. */
static int
progress_cb(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	return (ProcDiePending || ShutdownRequestPending) ? 1 : 0;
}

/* Swallow the response body: we only keep the status. */
static size_t
discard_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	return size * nmemb;
}

/*
 * dr_http_post
 *		One attempt.  Never raises an error for network trouble: the outcome
 *		is in *result.
 */
void
dr_http_post(const char *url, const char *signature, const char *body,
			 const char *idempotency_key, const char *event_type,
			 int connect_timeout_ms, int timeout_ms, DrHttpResult *result)
{
	CURL	   *curl;
	CURLcode	rc;
	struct curl_slist *headers = NULL;
	TimestampTz start = GetCurrentTimestamp();
	char	   *h;

	memset(result, 0, sizeof(*result));
	dr_http_init();
	curl = curl_easy_init();
	if (curl == NULL)
	{
		strlcpy(result->error, "could not create a curl handle", sizeof(result->error));
		result->retryable = true;
		return;
	}

	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "User-Agent: tensafe_dr");
	h = psprintf("Idempotency-Key: %s", idempotency_key);
	headers = curl_slist_append(headers, h);
	h = psprintf("X-Tensafe-Signature: sha256=%s", signature);
	headers = curl_slist_append(headers, h);
	h = psprintf("X-Tensafe-Event: %s", event_type);
	headers = curl_slist_append(headers, h);

	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long) connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_cb);

	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
	{
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result->http_status);
		result->delivered = result->http_status >= 200 && result->http_status < 300;
		if (!result->delivered)
		{
			snprintf(result->error, sizeof(result->error), "HTTP %ld", result->http_status);
			/* 4xx other than timeout/too-many-requests will not get better */
			result->retryable = result->http_status >= 500 || result->http_status == 408 ||
				result->http_status == 429;
		}
	}
	else
	{
		snprintf(result->error, sizeof(result->error), "%s%s",
				 rc == CURLE_OPERATION_TIMEDOUT ? "timeout: " : "",
				 curl_easy_strerror(rc));
		result->retryable = rc != CURLE_UNSUPPORTED_PROTOCOL && rc != CURLE_URL_MALFORMAT;
	}
	result->elapsed_ms = (double) (GetCurrentTimestamp() - start) / 1000.0;

	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
}
