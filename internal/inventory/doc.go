// Package inventory reads the files the KUMA installer (Ansible YAML
// inventories for install.sh / expand.sh) and Hystax Acura HA (the INI
// ha_env_file) are driven by, resolves them into a *cluster.Cluster, and
// checks them against the HA rules of the reference (Validate), so that a
// bad design is caught before the installer runs rather than half-way.
package inventory
