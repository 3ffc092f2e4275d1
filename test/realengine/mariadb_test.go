package realengine

import "testing"

func TestMariaDBTopology(t *testing.T) { testTopology(t, mariadb{}) }

func TestMariaDBParameters(t *testing.T) {
	testParameters(t, mariadb{},
		map[string]string{"bogus_option": "1"}, "unknown variable 'bogus_option=1'",
		map[string]string{"max_connections": "150"}, "SELECT @@max_connections", "150")
}

func TestMariaDBLateReplicationSecret(t *testing.T) { testLateReplicationSecret(t, mariadb{}) }

func TestMariaDBInterruptedBootstrap(t *testing.T) {
	testInterruptedBootstrap(t, mariadb{}, "starting a temporary server")
}
