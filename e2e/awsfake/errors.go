package awsfake

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
)

// apiError is an AWS error reply.
type apiError struct {
	status  int
	code    string
	message string
	detail  string // extra diagnostics for Rejections only; never sent, never secret
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

func errSignature(msg string) *apiError {
	return &apiError{status: http.StatusForbidden, code: "SignatureDoesNotMatch", message: msg}
}

func errIncompleteSignature(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "IncompleteSignature", message: msg}
}

func errInvalidToken() *apiError {
	return &apiError{status: http.StatusForbidden, code: "InvalidClientTokenId", message: "The security token included in the request is invalid."}
}

func errExpiredToken() *apiError {
	return &apiError{status: http.StatusForbidden, code: "ExpiredToken", message: "The security token included in the request is expired"}
}

func errMissingAuth() *apiError {
	return &apiError{status: http.StatusForbidden, code: "MissingAuthenticationToken", message: "Request is missing Authentication Token"}
}

func errAccessDenied(msg string) *apiError {
	return &apiError{status: http.StatusForbidden, code: "AccessDenied", message: msg}
}

func errNoSuchEntity(msg string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "NoSuchEntity", message: msg}
}

func errValidation(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "ValidationError", message: msg}
}

func errInvalidAction(service, action string) *apiError {
	msg := fmt.Sprintf("Could not find operation %s for version %s", action, apiVersion[service])
	if service == "ec2" {
		msg = fmt.Sprintf("The action %s is not valid for this web service.", action)
	}
	return &apiError{status: http.StatusBadRequest, code: "InvalidAction", message: msg}
}

// apiVersion and xmlns per service.
var (
	apiVersion = map[string]string{"sts": "2011-06-15", "iam": "2010-05-08", "ec2": "2016-11-15"}
	xmlnsOf    = map[string]string{
		"sts": "https://sts.amazonaws.com/doc/2011-06-15/",
		"iam": "https://iam.amazonaws.com/doc/2010-05-08/",
		"ec2": "http://ec2.amazonaws.com/doc/2016-11-15/",
	}
)

type queryErrorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

type ec2ErrorResponse struct {
	XMLName xml.Name `xml:"Response"`
	Errors  struct {
		Error struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
	} `xml:"Errors"`
	RequestID string `xml:"RequestID"`
}

// writeError sends e in the XML shape of service.
func writeError(w http.ResponseWriter, service, requestID string, e *apiError) {
	if service == "ec2" {
		var v ec2ErrorResponse
		v.Errors.Error.Code = e.code
		v.Errors.Error.Message = e.message
		v.RequestID = requestID
		writeXML(w, e.status, v)
		return
	}
	var v queryErrorResponse
	v.Xmlns = xmlnsOf[service]
	v.Error.Type = "Sender"
	if e.status >= 500 {
		v.Error.Type = "Receiver"
	}
	v.Error.Code = e.code
	v.Error.Message = e.message
	v.RequestID = requestID
	writeXML(w, e.status, v)
}

// writeXML marshals v and sends it with Content-Type exactly "text/xml"
// (Vault refuses "text/xml; charset=utf-8").
func writeXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "awsfake: cannot encode reply", http.StatusInternalServerError)
		return
	}
	// encoding/xml escapes ' and " in text; AWS does not, and Vault quotes
	// the raw body in its errors, so undo that (the only attribute is a
	// fixed xmlns, which contains neither).
	body = bytes.ReplaceAll(body, []byte("&#39;"), []byte("'"))
	body = bytes.ReplaceAll(body, []byte("&#34;"), []byte(`"`))
	h := w.Header()
	h["Content-Type"] = []string{"text/xml"}
	h["Content-Length"] = []string{fmt.Sprint(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
