/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * certs.c - `cdpfs certs init|issue`: a small CA for test setups and
 * evaluations (production sites bring their own PKI).  EC P-256 keys,
 * SHA-256 signatures, X.509 v3.  The CA certificate: basicConstraints
 * CA:TRUE (critical), keyUsage keyCertSign and cRLSign.  An issued
 * certificate: CN = NAME, subjectAltName DNS:NAME (IP:NAME when NAME is an
 * address) and one more per ALT, keyUsage digitalSignature,
 * extendedKeyUsage serverAuth and clientAuth, so one certificate serves a
 * DR server and a protected host alike.  Keys are written 0600.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ship/ship.h"

static EVP_PKEY *new_key(void)
{
	return EVP_EC_gen("P-256");
}

static int write_key(const char *path, EVP_PKEY *k)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f;
	int ok;

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

static int write_cert(const char *path, X509 *c)
{
	FILE *f = fopen(path, "we");
	int ok;

	if (!f)
		return -errno;
	ok = PEM_write_X509(f, c);
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -ENOMEM;
}

/* A certificate for key, subject CN=cn, valid from now-before_days for
 * days; serial random. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, long from_s, long until_s)
{
	X509 *c = X509_new();
	uint8_t serial[16];
	BIGNUM *bn;

	if (!c)
		return NULL;
	X509_set_version(c, 2);
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(c), from_s);
	X509_gmtime_adj(X509_getm_notAfter(c), until_s);
	X509_set_pubkey(c, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	return c;
}

static void tls_why(char *out, size_t outlen)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, out, outlen);
	else
		snprintf(out, outlen, "OpenSSL failed");
}

int cdp_certs_init(const char *dir, int days, char *err, size_t errlen)
{
	char crt[PATH_MAX], keyp[PATH_MAX], why[256], cn[64];
	uint8_t rnd[4];
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	int ret = -EIO;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		cdp_errf(err, errlen, "cdpfs: cannot make '%s': %s", dir, strerror(-ret));
		return ret;
	}
	snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
	snprintf(keyp, sizeof(keyp), "%s/ca.key", dir);
	if (access(crt, F_OK) == 0 || access(keyp, F_OK) == 0) {
		cdp_errf(err, errlen, "cdpfs: '%s' already holds a CA (ca.crt or ca.key); "
			 "remove them or use another DIR", dir);
		return -EEXIST;
	}
	/* a name of its own: two test CAs never pass for each other */
	RAND_bytes(rnd, sizeof(rnd));
	snprintf(cn, sizeof(cn), "cdpfs test CA %02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
	k = new_key();
	c = k ? new_cert(k, cn, -3600, (long)days * 86400) : NULL;
	if (!c || X509_set_issuer_name(c, X509_get_subject_name(c)) != 1 ||
	    add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
	    add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(c, c, NID_subject_key_identifier, "hash") < 0 ||
	    !X509_sign(c, k, EVP_sha256())) {
		tls_why(why, sizeof(why));
		cdp_errf(err, errlen, "cdpfs: cannot make the CA certificate: %s", why);
		goto out;
	}
	ret = write_key(keyp, k);
	if (ret == 0)
		ret = write_cert(crt, c);
	if (ret < 0)
		cdp_errf(err, errlen, "cdpfs: cannot write '%s': %s", ret == -EIO ? crt : keyp,
			 strerror(-ret));
out:
	X509_free(c);
	EVP_PKEY_free(k);
	return ret;
}

static int load_ca(const char *dir, X509 **ca, EVP_PKEY **cakey, char *err, size_t errlen)
{
	char crt[PATH_MAX], keyp[PATH_MAX];
	FILE *f;

	snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
	snprintf(keyp, sizeof(keyp), "%s/ca.key", dir);
	f = fopen(crt, "re");
	*ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	f = fopen(keyp, "re");
	*cakey = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!*ca || !*cakey) {
		cdp_errf(err, errlen, "cdpfs: no CA in '%s' (ca.crt and ca.key): run `cdpfs certs "
			 "init %s` first", dir, dir);
		X509_free(*ca);
		EVP_PKEY_free(*cakey);
		return -ENOENT;
	}
	return 0;
}

static void alt_name(const char *name, char *out, size_t outlen, size_t at)
{
	struct in6_addr a6;
	struct in_addr a4;
	int ip = inet_pton(AF_INET, name, &a4) == 1 || inet_pton(AF_INET6, name, &a6) == 1;

	snprintf(out + at, outlen - at, "%s%s:%s", at ? "," : "", ip ? "IP" : "DNS", name);
}

int cdp_certs_issue(const char *dir, const char *name, char *const *alts, size_t nalts,
		    int days, int expired, char *err, size_t errlen)
{
	char crt[PATH_MAX], keyp[PATH_MAX], san[4096], why[256];
	EVP_PKEY *cakey = NULL, *k = NULL;
	X509 *ca = NULL, *c = NULL;
	long from = -3600, until = (long)days * 86400;
	size_t i;
	int ret;

	if (!*name || strchr(name, '/') || strlen(name) > 200) {
		cdp_errf(err, errlen, "cdpfs: bad certificate name '%s'", name);
		return -EINVAL;
	}
	ret = load_ca(dir, &ca, &cakey, err, errlen);
	if (ret < 0)
		return ret;
	if (expired) {
		from = -(long)(days + 1) * 86400;
		until = -86400;
	}
	san[0] = '\0';
	alt_name(name, san, sizeof(san), 0);
	for (i = 0; i < nalts; i++)
		alt_name(alts[i], san, sizeof(san), strlen(san));
	ret = -EIO;
	k = new_key();
	c = k ? new_cert(k, name, from, until) : NULL;
	if (!c || X509_set_issuer_name(c, X509_get_subject_name(ca)) != 1 ||
	    add_ext(c, ca, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(c, ca, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(c, ca, NID_ext_key_usage, "serverAuth,clientAuth") < 0 ||
	    add_ext(c, ca, NID_subject_alt_name, san) < 0 ||
	    !X509_sign(c, cakey, EVP_sha256())) {
		tls_why(why, sizeof(why));
		cdp_errf(err, errlen, "cdpfs: cannot make the certificate of '%s': %s", name, why);
		goto out;
	}
	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
	snprintf(keyp, sizeof(keyp), "%s/%s.key", dir, name);
	ret = write_key(keyp, k);
	if (ret == 0)
		ret = write_cert(crt, c);
	if (ret < 0)
		cdp_errf(err, errlen, "cdpfs: cannot write '%s': %s", keyp, strerror(-ret));
out:
	X509_free(c);
	EVP_PKEY_free(k);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return ret;
}
