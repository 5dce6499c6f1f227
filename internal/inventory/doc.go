// Package inventory reads the files the KUMA installer (Ansible YAML
// inventories for install.sh / expand.sh) and Hystax Acura HA (the INI
// ha_env_file) are driven by, resolves them into a *cluster.Cluster as
// Ansible would, and checks them against the HA rules (Validate), so that a
// bad design is caught before the installer runs rather than half-way.
//
// Where the KUMA online help and the project's earlier notes disagree, the
// help wins: testdata/vendor holds its example inventories, NOTES.md what it
// says of them, and the tests hold every example to that verdict. A mistake
// in the text of a file that leaves the rest readable (a group of the wrong
// shape, a duplicate key, host lines folded into one string) is a
// Cluster.Problem that Validate reports with the rules' findings, so that
// one problem does not hide the rest.
package inventory
