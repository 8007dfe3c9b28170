package awsfake

import "fmt"

// AddInstance registers an instance after Start, or replaces the one with
// the same ID, so that a test can bring up an EC2 instance in a running
// scenario. It checks the instance like Start does.
func (f *Fake) AddInstance(in Instance) error {
	if in.ID == "" || in.Account == "" {
		return fmt.Errorf("awsfake: instance: ID and Account are required")
	}
	if in.InstanceProfileARN != "" {
		if a, ok := parseARN(in.InstanceProfileARN); !ok || a.resourceType() != "instance-profile" {
			return fmt.Errorf("awsfake: instance %s: %q is not an instance profile ARN", in.ID, in.InstanceProfileARN)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.instances {
		if f.instances[i].ID == in.ID {
			f.instances[i] = in
			return nil
		}
	}
	f.instances = append(f.instances, in)
	return nil
}

// instanceList returns the registered instances; AddInstance may change
// them while requests are served.
func (f *Fake) instanceList() []Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Instance(nil), f.instances...)
}
