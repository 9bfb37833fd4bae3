/*-------------------------------------------------------------------------
 *
 * webhook_http.h
 *	  One signed HTTP POST of a notification, with libcurl.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_WEBHOOK_HTTP_H
#define TENSAFE_DR_WEBHOOK_HTTP_H

typedef struct DrHttpResult
{
	bool		delivered;		/* 2xx */
	bool		retryable;		/* worth another attempt */
	long		http_status;	/* 0 if no response */
	char		error[256];		/* empty when delivered */
	double		elapsed_ms;
} DrHttpResult;

extern void dr_http_init(void);
extern void dr_http_post(const char *url, const char *signature, const char *body,
						 const char *idempotency_key, const char *event_type,
						 int connect_timeout_ms, int timeout_ms, DrHttpResult *result);
extern char *dr_hmac_sha256_hex(const char *secret, const char *body);

#endif							/* TENSAFE_DR_WEBHOOK_HTTP_H */
