package awsfake

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzParseAuthorization: any header value parses or is refused as an
// incomplete (400) or mismatched (403) signature, never a panic; what
// parses has all its parts, and renders back to a header that parses the
// same.
func FuzzParseAuthorization(f *testing.F) {
	for _, v := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		"AWS4-HMAC-SHA256 Credential=A/B/C/D/aws4_request,SignedHeaders=host,Signature=x",
		"AWS4-HMAC-SHA256 Credential=A/B/C/D/other, SignedHeaders=host, Signature=x",
		"AWS4-HMAC-SHA256 Credential=/B/C/D/aws4_request, SignedHeaders=host, Signature=x",
		"AWS4-HMAC-SHA256 Credential=A/B/C/aws4_request, SignedHeaders=host, Signature=x",
		"AWS4-HMAC-SHA256 Credential=A/B/C/D/aws4_request, SignedHeaders=, Signature=x",
		"AWS4-HMAC-SHA256 Credential",
		"AWS4-HMAC-SHA256 ,,,=,",
		"AWS4-HMAC-SHA256",
		"AWS AKID:sig",
		"",
		"  AWS4-HMAC-SHA256   Credential = A/B/C/D/aws4_request , Signature=x=y, SignedHeaders=a;;b ",
	} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		a, e := parseAuthorization(v)
		if e != nil {
			if e.status != http.StatusBadRequest && e.status != http.StatusForbidden || e.code == "" || e.message == "" {
				t.Fatalf("parseAuthorization(%q): error %+v", v, e)
			}
			return
		}
		if a.accessKeyID == "" || a.terminator != "aws4_request" || a.signature == "" || len(a.signed) == 0 {
			t.Fatalf("parseAuthorization(%q) = %+v: a part is missing", v, a)
		}
		again := sigv4Algorithm + " Credential=" + a.accessKeyID + "/" + a.scope() +
			", SignedHeaders=" + strings.Join(a.signed, ";") + ", Signature=" + a.signature
		b, e := parseAuthorization(again)
		if e != nil || b.accessKeyID != a.accessKeyID || b.scope() != a.scope() || !slices.Equal(b.signed, a.signed) || b.signature != a.signature {
			t.Fatalf("parseAuthorization(%q) = %+v, but its rendering %q parses to %+v, %v", v, a, again, b, e)
		}
	})
}

// fuzzMethods are the methods a fuzzed request uses.
var fuzzMethods = []string{"POST", "GET", "PUT", "HEAD", "DELETE", "OPTIONS"}

// FuzzServeHTTP sends arbitrary requests to the fake's handler: unsigned
// with arbitrary method, path, query, headers and body, or (signed) correctly
// signed by a known identity with an arbitrary form body, which reaches the
// actions. The fake must never panic, answer only with the statuses AWS
// uses for these calls, always in well-formed XML with Content-Type exactly
// text/xml, and count every request.
func FuzzServeHTTP(f *testing.F) {
	gci := "Action=GetCallerIdentity&Version=2011-06-15"
	f.Add(false, uint8(0), uint8(0), "/", "", "", "", "", "", "", []byte(gci))
	f.Add(true, uint8(0), uint8(1), "/", "", "", "", "", "", "", []byte(gci))
	f.Add(true, uint8(0), uint8(0), "/", "", "", "", "", "", "", []byte("Action=AssumeRole&Version=2011-06-15&RoleArn="+url.QueryEscape(trustRoleARN)+"&RoleSessionName=vault-1&DurationSeconds=900"))
	f.Add(true, uint8(0), uint8(0), "/", "", "", "", "", "", "", []byte("Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx&RoleSessionName=%00&DurationSeconds=1e9"))
	f.Add(true, uint8(0), uint8(2), "/", "", "", "", "", "", "", []byte("Action=GetRole&Version=2010-05-08&RoleName=secondary-role2"))
	f.Add(true, uint8(0), uint8(0), "/", "", "", "", "", "", "", []byte("Action=GetUser&UserName=vault-primary"))
	f.Add(true, uint8(0), uint8(1), "/", "", "", "", "", "", "", []byte("Action=GetInstanceProfile&InstanceProfileName=vault-secondary-role1"))
	f.Add(true, uint8(0), uint8(1), "/", "", "", "", "", "", "", []byte("Action=DescribeInstances&Version=2016-11-15&InstanceId.1="+instance1+"&InstanceId.2=i-bad&Filter.1.Name=x"))
	f.Add(true, uint8(0), uint8(0), "/", "", "", "", "", "", "", []byte("Action=Nope&Action=GetCallerIdentity&%zz"))
	f.Add(false, uint8(1), uint8(0), "//", "Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256", "", "", "", "", "", []byte(nil))
	f.Add(false, uint8(0), uint8(0), "/a/../b", "", "AWS4-HMAC-SHA256 Credential="+client1.AccessKeyID+"/20260304/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
		"20260304T050607Z", client1.SessionToken, "application/x-www-form-urlencoded; charset=utf-8", "sts.us-west-2.amazonaws.com", []byte(gci))
	f.Add(false, uint8(2), uint8(0), "/", "%zz", "AWS4-HMAC-SHA256 Credential=X/2/3/4/aws4_request, SignedHeaders=a, Signature=b", "garbage", "", "multipart/form-data; boundary=", "iam.amazonaws.com.", []byte("\xff"))

	clock := &testClock{t: t0}
	o := baseOptions()
	o.Now = clock.Now
	fake, err := Start(o)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(fake.Close)
	signers := []Identity{vaultPrimary, client1, client2}
	known := map[int]bool{http.StatusOK: true, http.StatusBadRequest: true, http.StatusForbidden: true, http.StatusNotFound: true, http.StatusRequestEntityTooLarge: true}

	f.Fuzz(func(t *testing.T, signed bool, method, signer uint8, path, rawQuery, authz, amzDate, token, contentType, host string, body []byte) {
		r := &http.Request{
			Method: fuzzMethods[int(method)%len(fuzzMethods)], URL: &url.URL{Path: path, RawQuery: rawQuery},
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Host: host, RemoteAddr: "127.0.0.1:1",
		}
		if signed {
			r.Method, r.URL, r.Host = "POST", &url.URL{Path: "/"}, "127.0.0.1:8080"
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			params, _ := url.ParseQuery(string(body))
			service := actionService[params.Get("Action")]
			if service == "" {
				service = "sts"
			}
			id := signers[int(signer)%len(signers)]
			tSigner{akid: id.AccessKeyID, secret: id.SecretAccessKey, token: id.SessionToken, region: "us-east-1", service: service, when: t0}.
				sign(r, body, r.Host, "/")
		} else {
			for k, v := range map[string]string{"Authorization": authz, "X-Amz-Date": amzDate, "X-Amz-Security-Token": token, "Content-Type": contentType} {
				if v != "" {
					r.Header[k] = []string{v}
				}
			}
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		before := fake.Counts()
		w := httptest.NewRecorder()
		fake.serveHTTP(w, r)

		if !known[w.Code] {
			t.Fatalf("status %d for %s %q: %s", w.Code, r.Method, body, w.Body)
		}
		if ct := w.Result().Header.Values("Content-Type"); len(ct) != 1 || ct[0] != "text/xml" {
			t.Fatalf("Content-Type %q", ct)
		}
		var root struct {
			XMLName xml.Name
			Code    string `xml:"Error>Code"`
			EC2Code string `xml:"Errors>Error>Code"`
		}
		if err := xml.Unmarshal(w.Body.Bytes(), &root); err != nil {
			t.Fatalf("the reply is not XML: %v: %q", err, w.Body)
		}
		switch {
		case w.Code == http.StatusOK && !strings.HasSuffix(root.XMLName.Local, "Response"):
			t.Fatalf("a success reply named %q", root.XMLName.Local)
		case w.Code != http.StatusOK && root.Code == "" && root.EC2Code == "":
			t.Fatalf("an error reply without a code: %q", w.Body)
		}
		after := fake.Counts()
		total := func(c map[string]int) (n int) {
			for k, v := range c {
				if k != keyRejected {
					n += v
				}
			}
			return n
		}
		if total(after) != total(before)+1 {
			t.Fatalf("the request was counted %d times", total(after)-total(before))
		}
	})
}
