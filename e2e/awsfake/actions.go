package awsfake

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"hash/fnv"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// fixedCreateDate is the CreateDate of every IAM entity and the launch time
// of every instance.
const fixedCreateDate = "2024-01-02T03:04:05Z"

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// ---- sts:GetCallerIdentity ----

type getCallerIdentityResponse struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	Meta responseMetadata `xml:"ResponseMetadata"`
}

func (f *Fake) getCallerIdentity(req *request, requestID string) (any, *apiError) {
	var v getCallerIdentityResponse
	v.Xmlns = xmlnsOf["sts"]
	v.Result.Arn = req.caller.ARN
	v.Result.UserID = req.caller.UserID
	v.Result.Account = req.caller.Account
	v.Meta.RequestID = requestID
	return v, nil
}

// ---- sts:AssumeRole ----

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"AssumeRoleResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		AssumedRoleUser struct {
			AssumedRoleID string `xml:"AssumedRoleId"`
			Arn           string `xml:"Arn"`
		} `xml:"AssumedRoleUser"`
		Credentials credentialsXML `xml:"Credentials"`
	} `xml:"AssumeRoleResult"`
	Meta responseMetadata `xml:"ResponseMetadata"`
}

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func (f *Fake) assumeRole(req *request, requestID string) (any, *apiError) {
	p := req.params
	roleArn := p.Get("RoleArn")
	session := p.Get("RoleSessionName")
	if roleArn == "" {
		return nil, errValidation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	}
	if session == "" {
		return nil, errValidation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
	}
	if !sessionNameRE.MatchString(session) {
		return nil, errValidation(fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session))
	}
	duration, e := durationParam(p.Get("DurationSeconds"))
	if e != nil {
		return nil, e
	}

	denied := errAccessDenied(fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", req.caller.ARN, roleArn))
	tr := f.trustRole(roleArn)
	if tr == nil {
		denied.detail = "no such trust role"
		return nil, denied
	}
	if !callerAllowed(tr.AllowedCallers, req.caller) {
		denied.detail = "caller not in AllowedCallers"
		return nil, denied
	}
	if tr.ExternalID != "" && p.Get("ExternalId") != tr.ExternalID {
		denied.detail = "ExternalId mismatch"
		return nil, denied
	}

	id, expires := f.mint(roleArn, session, req.now.Add(time.Duration(duration)*time.Second))
	var v assumeRoleResponse
	v.Xmlns = xmlnsOf["sts"]
	v.Result.AssumedRoleUser.AssumedRoleID = id.UserID
	v.Result.AssumedRoleUser.Arn = id.ARN
	v.Result.Credentials = credentialsXML{id.AccessKeyID, id.SecretAccessKey, id.SessionToken, expires.Format(time.RFC3339)}
	v.Meta.RequestID = requestID
	return v, nil
}

// callerAllowed: the caller's ARN is listed, or its account's root is.
func callerAllowed(allowed []string, caller credential) bool {
	ca, _ := parseARN(caller.ARN)
	for _, a := range allowed {
		if a == caller.ARN {
			return true
		}
		if pa, ok := parseARN(a); ok && pa.service == "iam" && pa.resource == "root" &&
			pa.partition == ca.partition && pa.account == caller.Account {
			return true
		}
	}
	return false
}

// ---- iam:GetRole ----

type iamRole struct {
	Path                     string `xml:"Path"`
	RoleName                 string `xml:"RoleName"`
	RoleID                   string `xml:"RoleId"`
	Arn                      string `xml:"Arn"`
	CreateDate               string `xml:"CreateDate"`
	AssumeRolePolicyDocument string `xml:"AssumeRolePolicyDocument,omitempty"`
	MaxSessionDuration       int    `xml:"MaxSessionDuration,omitempty"`
}

type getRoleResponse struct {
	XMLName xml.Name `xml:"GetRoleResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Role iamRole `xml:"Role"`
	} `xml:"GetRoleResult"`
	Meta responseMetadata `xml:"ResponseMetadata"`
}

func (f *Fake) callerPartition(req *request) string {
	if a, ok := parseARN(req.caller.ARN); ok {
		return a.partition
	}
	return "aws"
}

func (f *Fake) iamRole(partition string, r Role) iamRole {
	arn := roleARN(partition, r)
	// A trust role trusts its allowed callers; any other role trusts EC2.
	principal := map[string]any{"Service": "ec2.amazonaws.com"}
	for _, t := range f.trustRoles {
		if t.ARN == arn {
			principal = map[string]any{"AWS": t.AllowedCallers}
		}
	}
	doc, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole",
		}},
	})
	return iamRole{
		Path:                     r.Path,
		RoleName:                 r.Name,
		RoleID:                   r.ID,
		Arn:                      arn,
		CreateDate:               fixedCreateDate,
		AssumeRolePolicyDocument: uriEncode(string(doc), true), // IAM returns policies URL-encoded
		MaxSessionDuration:       3600,
	}
}

func (f *Fake) findRole(account, name string) (Role, bool) {
	for _, r := range f.roles {
		if r.Account == account && strings.EqualFold(r.Name, name) {
			return r, true
		}
	}
	return Role{}, false
}

func (f *Fake) getRole(req *request, requestID string) (any, *apiError) {
	name := req.params.Get("RoleName")
	if name == "" {
		return nil, errValidation("1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null")
	}
	r, ok := f.findRole(req.caller.Account, name)
	if !ok {
		e := errNoSuchEntity(fmt.Sprintf("The role with name %s cannot be found.", name))
		e.detail = "looked in account " + req.caller.Account
		return nil, e
	}
	var v getRoleResponse
	v.Xmlns = xmlnsOf["iam"]
	v.Result.Role = f.iamRole(f.callerPartition(req), r)
	v.Meta.RequestID = requestID
	return v, nil
}

// ---- iam:GetUser ----

type getUserResponse struct {
	XMLName xml.Name `xml:"GetUserResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		User struct {
			Path       string `xml:"Path"`
			UserName   string `xml:"UserName"`
			UserID     string `xml:"UserId"`
			Arn        string `xml:"Arn"`
			CreateDate string `xml:"CreateDate"`
		} `xml:"User"`
	} `xml:"GetUserResult"`
	Meta responseMetadata `xml:"ResponseMetadata"`
}

func (f *Fake) getUser(req *request, requestID string) (any, *apiError) {
	name := req.params.Get("UserName")
	var user Identity
	found := false
	if name == "" {
		a, _ := parseARN(req.caller.ARN)
		if a.service != "iam" || a.resourceType() != "user" {
			return nil, errValidation("Must specify userName when calling with non-User credentials")
		}
		user, found = req.caller.Identity, true
	} else {
		f.mu.Lock()
		var matches []Identity
		for _, c := range f.creds {
			a, ok := parseARN(c.ARN)
			if !ok || a.service != "iam" || a.resourceType() != "user" || c.Account != req.caller.Account {
				continue
			}
			if n, _ := a.nameAndPath(); strings.EqualFold(n, name) {
				matches = append(matches, c.Identity)
			}
		}
		f.mu.Unlock()
		if len(matches) > 0 {
			// Several keys may belong to one user; answer deterministically.
			sort.Slice(matches, func(i, j int) bool { return matches[i].AccessKeyID < matches[j].AccessKeyID })
			user, found = matches[0], true
		}
	}
	if !found {
		e := errNoSuchEntity(fmt.Sprintf("The user with name %s cannot be found.", name))
		e.detail = "looked in account " + req.caller.Account
		return nil, e
	}
	a, _ := parseARN(user.ARN)
	n, path := a.nameAndPath()
	var v getUserResponse
	v.Xmlns = xmlnsOf["iam"]
	v.Result.User.Path = path
	v.Result.User.UserName = n
	v.Result.User.UserID = user.UserID
	if v.Result.User.UserID == "" {
		v.Result.User.UserID = MakeID("AIDA", user.ARN)
	}
	v.Result.User.Arn = user.ARN
	v.Result.User.CreateDate = fixedCreateDate
	v.Meta.RequestID = requestID
	return v, nil
}

// ---- iam:GetInstanceProfile ----

type getInstanceProfileResponse struct {
	XMLName xml.Name `xml:"GetInstanceProfileResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		InstanceProfile struct {
			Path                string `xml:"Path"`
			InstanceProfileName string `xml:"InstanceProfileName"`
			InstanceProfileID   string `xml:"InstanceProfileId"`
			Arn                 string `xml:"Arn"`
			CreateDate          string `xml:"CreateDate"`
			Roles               struct {
				Members []iamRole `xml:"member"`
			} `xml:"Roles"`
		} `xml:"InstanceProfile"`
	} `xml:"GetInstanceProfileResult"`
	Meta responseMetadata `xml:"ResponseMetadata"`
}

// getInstanceProfile models the instance profiles named by the instances'
// InstanceProfileARN; a profile contains the role of the same name in the
// same account, if there is one (the console's convention).
func (f *Fake) getInstanceProfile(req *request, requestID string) (any, *apiError) {
	name := req.params.Get("InstanceProfileName")
	if name == "" {
		return nil, errValidation("1 validation error detected: Value null at 'instanceProfileName' failed to satisfy constraint: Member must not be null")
	}
	for _, in := range f.instanceList() {
		if in.Account != req.caller.Account || in.InstanceProfileARN == "" {
			continue
		}
		a, _ := parseARN(in.InstanceProfileARN)
		n, path := a.nameAndPath()
		if !strings.EqualFold(n, name) {
			continue
		}
		var v getInstanceProfileResponse
		v.Xmlns = xmlnsOf["iam"]
		p := &v.Result.InstanceProfile
		p.Path = path
		p.InstanceProfileName = n
		p.InstanceProfileID = MakeID("AIPA", in.InstanceProfileARN)
		p.Arn = in.InstanceProfileARN
		p.CreateDate = fixedCreateDate
		if r, ok := f.findRole(in.Account, n); ok {
			p.Roles.Members = []iamRole{f.iamRole(a.partition, r)}
		}
		v.Meta.RequestID = requestID
		return v, nil
	}
	e := errNoSuchEntity(fmt.Sprintf("Instance Profile %s cannot be found.", name))
	e.detail = "looked in account " + req.caller.Account
	return nil, e
}

// ---- ec2:DescribeInstances ----

type describeInstancesResponse struct {
	XMLName        xml.Name `xml:"DescribeInstancesResponse"`
	Xmlns          string   `xml:"xmlns,attr"`
	RequestID      string   `xml:"requestId"`
	ReservationSet struct {
		Items []ec2Reservation `xml:"item"`
	} `xml:"reservationSet"`
}

type ec2Reservation struct {
	ReservationID string   `xml:"reservationId"`
	OwnerID       string   `xml:"ownerId"`
	GroupSet      struct{} `xml:"groupSet"`
	InstancesSet  struct {
		Items []ec2Instance `xml:"item"`
	} `xml:"instancesSet"`
}

type ec2Instance struct {
	InstanceID    string `xml:"instanceId"`
	ImageID       string `xml:"imageId"`
	InstanceState struct {
		Code int    `xml:"code"`
		Name string `xml:"name"`
	} `xml:"instanceState"`
	PrivateDNSName string `xml:"privateDnsName"`
	DNSName        string `xml:"dnsName"`
	InstanceType   string `xml:"instanceType"`
	LaunchTime     string `xml:"launchTime"`
	Placement      struct {
		AvailabilityZone string `xml:"availabilityZone"`
		Tenancy          string `xml:"tenancy"`
	} `xml:"placement"`
	SubnetID           string              `xml:"subnetId,omitempty"`
	VPCID              string              `xml:"vpcId,omitempty"`
	PrivateIPAddress   string              `xml:"privateIpAddress"`
	IAMInstanceProfile *ec2InstanceProfile `xml:"iamInstanceProfile,omitempty"`
	TagSet             struct{}            `xml:"tagSet"`
}

type ec2InstanceProfile struct {
	Arn string `xml:"arn"`
	ID  string `xml:"id"`
}

func (f *Fake) describeInstances(req *request, requestID string) (any, *apiError) {
	// InstanceId.1, InstanceId.2, ... in numeric order.
	type numbered struct {
		n  int
		id string
	}
	var ids []numbered
	for k, vs := range req.params {
		rest, ok := strings.CutPrefix(k, "InstanceId.")
		if !ok || len(vs) == 0 {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil {
			continue
		}
		ids = append(ids, numbered{n, vs[0]})
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].n < ids[j].n })

	region := req.auth.region
	visible := func(in Instance) bool {
		return in.Account == req.caller.Account && (in.Region == "" || in.Region == region)
	}
	instances := f.instanceList()
	var found []Instance
	if len(ids) == 0 {
		for _, in := range instances {
			if visible(in) {
				found = append(found, in)
			}
		}
	} else {
		var missing []string
		for _, want := range ids {
			if !strings.HasPrefix(want.id, "i-") {
				return nil, &apiError{status: http.StatusBadRequest, code: "InvalidInstanceID.Malformed", message: fmt.Sprintf("Invalid id: %q", want.id)}
			}
			ok := false
			for _, in := range instances {
				if in.ID == want.id && visible(in) {
					found = append(found, in)
					ok = true
					break
				}
			}
			if !ok {
				missing = append(missing, want.id)
			}
		}
		switch len(missing) {
		case 0:
		case 1:
			e := &apiError{status: http.StatusBadRequest, code: "InvalidInstanceID.NotFound", message: fmt.Sprintf("The instance ID '%s' does not exist", missing[0])}
			e.detail = fmt.Sprintf("looked in account %s, region %s", req.caller.Account, region)
			return nil, e
		default:
			e := &apiError{status: http.StatusBadRequest, code: "InvalidInstanceID.NotFound", message: fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", "))}
			e.detail = fmt.Sprintf("looked in account %s, region %s", req.caller.Account, region)
			return nil, e
		}
	}

	var v describeInstancesResponse
	v.Xmlns = xmlnsOf["ec2"]
	v.RequestID = requestID
	for _, in := range found {
		r := in.Region
		if r == "" {
			r = region
		}
		res := ec2Reservation{ReservationID: MakeID("r-", in.ID), OwnerID: in.Account}
		res.InstancesSet.Items = []ec2Instance{describeInstance(in, r)}
		v.ReservationSet.Items = append(v.ReservationSet.Items, res)
	}
	return v, nil
}

func describeInstance(in Instance, region string) ec2Instance {
	h := fnv.New32a()
	h.Write([]byte(in.ID))
	s := h.Sum32()
	ip := fmt.Sprintf("10.0.%d.%d", (s>>8)%256, s%254+1)
	dnsSuffix := region + ".compute.internal"
	if region == "us-east-1" {
		dnsSuffix = "ec2.internal"
	}
	var x ec2Instance
	x.InstanceID = in.ID
	x.ImageID = in.ImageID
	x.InstanceState.Code = 16
	x.InstanceState.Name = "running"
	x.PrivateDNSName = "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + dnsSuffix
	x.InstanceType = "t3.micro"
	x.LaunchTime = "2024-01-02T03:04:05.000Z"
	x.Placement.AvailabilityZone = region + "a"
	x.Placement.Tenancy = "default"
	x.SubnetID = in.SubnetID
	x.VPCID = in.VPCID
	x.PrivateIPAddress = ip
	if in.InstanceProfileARN != "" {
		x.IAMInstanceProfile = &ec2InstanceProfile{Arn: in.InstanceProfileARN, ID: MakeID("AIPA", in.InstanceProfileARN)}
	}
	return x
}
