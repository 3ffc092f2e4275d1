// Package v1alpha1 holds the dbctl.io/v1alpha1 API: the Database resource that dbctl
// reconciles. The CRD under config/crd and zz_generated.deepcopy.go are generated from
// these types by controller-gen (make generate); never edit them by hand.
//
// +kubebuilder:object:generate=true
// +groupName=dbctl.io
package v1alpha1
