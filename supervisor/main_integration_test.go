//go:build integration

package supervisor_test

import (
	"os"
	"testing"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

func TestMain(m *testing.M) { os.Exit(podmantest.Main(m)) }
