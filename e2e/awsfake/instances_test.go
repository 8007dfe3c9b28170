package awsfake

import (
	"net/url"
	"sync"
	"testing"
)

func TestAddInstance(t *testing.T) {
	fx := newFixture(t, baseOptions())
	assumed := fx.assume(t, "s1")
	const id = "i-0added0000000001"
	describe := func() reply {
		return fx.do(call{params: url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "InstanceId.1": {id}}, creds: assumed, region: "eu-central-1"})
	}
	if r := describe(); r.status != 400 {
		t.Fatalf("unknown instance: status %d", r.status)
	}
	profile := "arn:aws:iam::222222222222:instance-profile/vault-secondary-role1"
	if err := fx.fake.AddInstance(Instance{ID: id, Account: acctSecondary, ImageID: "ami-1", InstanceProfileARN: profile}); err != nil {
		t.Fatal(err)
	}
	r := describe()
	expectOK(t, r)
	if d := decode[describeReply](t, r); len(d.Reservations) != 1 || d.Reservations[0].Instances[0].ImageID != "ami-1" ||
		d.Reservations[0].Instances[0].Profile != profile || d.Reservations[0].Instances[0].AZ != "eu-central-1a" {
		t.Fatalf("got %+v", d)
	}
	// Replacing by ID.
	if err := fx.fake.AddInstance(Instance{ID: id, Account: acctSecondary, ImageID: "ami-2", Region: "us-west-2"}); err != nil {
		t.Fatal(err)
	}
	if r := describe(); r.status != 400 {
		t.Fatalf("instance moved to us-west-2 is still visible in eu-central-1: %d %s", r.status, r.body)
	}
	for _, bad := range []Instance{{ID: "i-1"}, {Account: acctSecondary}, {ID: "i-1", Account: "1", InstanceProfileARN: "arn:aws:iam::1:role/x"}} {
		if err := fx.fake.AddInstance(bad); err == nil {
			t.Errorf("AddInstance(%+v) accepted", bad)
		}
	}
}

func TestAddInstanceConcurrent(t *testing.T) {
	fx := newFixture(t, baseOptions())
	assumed := fx.assume(t, "s1")
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_ = fx.fake.AddInstance(Instance{ID: MakeID("i-", string(rune('a'+i))), Account: acctSecondary})
		}()
		go func() {
			defer wg.Done()
			fx.do(call{params: url.Values{"Action": {"DescribeInstances"}}, creds: assumed})
		}()
	}
	wg.Wait()
}
