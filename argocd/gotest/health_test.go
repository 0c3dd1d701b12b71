// Package argocdhealth runs the cases of health_test.yaml on Argo CD's own
// Lua evaluation: util/lua of the Argo CD release in go.mod (gopher-lua, Lua
// 5.1, Argo CD's object-to-Lua conversion and result checks), not a copy.
//
// Each case is evaluated three ways, and each must give the status and
// message the case names:
//
//   - TestLuaHealthScript: exactly as Argo CD's own test of its built-in
//     scripts (util/lua/health_test.go: getObj, VM{UseOpenLibs: true},
//     GetHealthScript, ExecuteHealthLua, assert.Equal), the script given the
//     way an argocd-cm customization gives it (ResourceOverrides), since it
//     is not built in.
//   - ArgocdCM: as the controller runs an argocd-cm customization:
//     lua.ResourceHealthOverrides.GetResourceHealth, so with the libraries
//     opened only as the ConfigMap says (useOpenLibs false: base, table,
//     package, a safe os; no string, math), on an object decoded as the API
//     server's JSON is (integers as int64).
//   - Controller: the same through gitops-engine's health.GetResourceHealth,
//     what Argo CD's controller calls (controller/health.go), which puts its
//     own answer over the script's for a resource being deleted.
package argocdhealth

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/health"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	appv1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/lua"
)

// The check's directory, in Argo CD's resource_customizations layout.
var checkDir = filepath.Join("..", "resource_customizations", "modelfleet.io", "LLMDeployment")

// Argo CD's own types for health_test.yaml (util/lua/health_test.go).
type TestStructure struct {
	Tests []IndividualTest `yaml:"tests"`
}

type IndividualTest struct {
	InputPath    string               `yaml:"inputPath"`
	HealthStatus *health.HealthStatus `yaml:"healthStatus"`
}

// Where gitops-engine answers instead of the script: a resource with a
// deletionTimestamp (and no Argo CD hook finalizer) is "Progressing" with its
// finalizers named, whatever the script returned (pkg/health/health.go,
// pendingDeletionHealth), unless the script sets deletionMessage.
var controllerAnswers = map[string]*health.HealthStatus{
	"testdata/deleting.yaml": {
		Status:  health.HealthStatusProgressing,
		Message: "Pending deletion; blocked by finalizers: kopf.zalando.org/KopfFinalizerMarker",
	},
}

// getObj is Argo CD's (util/lua/health_test.go): YAML to JSON to map, so
// numbers are float64.
func getObj(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	yamlBytes, err := os.ReadFile(path)
	require.NoError(t, err)
	obj := make(map[string]any)
	err = yaml.Unmarshal(yamlBytes, &obj)
	require.NoError(t, err)

	return &unstructured.Unstructured{Object: obj}
}

// getLiveObj decodes the object as the controller's cache holds one read
// from the API server: unstructured's JSON scheme, integers as int64.
func getLiveObj(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	yamlBytes, err := os.ReadFile(path)
	require.NoError(t, err)
	jsonBytes, err := yaml.YAMLToJSON(yamlBytes)
	require.NoError(t, err)
	obj := &unstructured.Unstructured{}
	require.NoError(t, obj.UnmarshalJSON(jsonBytes))
	return obj
}

func readCases(t *testing.T) ([]IndividualTest, map[string]appv1.ResourceOverride) {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(checkDir, "health.lua"))
	require.NoError(t, err)
	yamlBytes, err := os.ReadFile(filepath.Join(checkDir, "health_test.yaml"))
	require.NoError(t, err)
	var resourceTest TestStructure
	require.NoError(t, yaml.Unmarshal(yamlBytes, &resourceTest))
	require.NotEmpty(t, resourceTest.Tests)
	// resource.customizations.health.modelfleet.io_LLMDeployment in argocd-cm
	// (useOpenLibs left at its default, false).
	key := lua.GetConfigMapKey(getObj(t, filepath.Join(checkDir, resourceTest.Tests[0].InputPath)).GroupVersionKind())
	require.Equal(t, "modelfleet.io/LLMDeployment", key)
	return resourceTest.Tests, map[string]appv1.ResourceOverride{key: {HealthLua: string(script)}}
}

func TestLuaHealthScript(t *testing.T) {
	tests, overrides := readCases(t)
	for i := range tests {
		test := tests[i]
		t.Run(test.InputPath, func(t *testing.T) {
			vm := lua.VM{
				ResourceOverrides: overrides,
				UseOpenLibs:       true,
			}
			obj := getObj(t, filepath.Join(checkDir, test.InputPath))
			script, _, err := vm.GetHealthScript(obj)
			require.NoError(t, err)
			require.NotEmpty(t, script)
			result, err := vm.ExecuteHealthLua(obj, script)
			require.NoError(t, err)
			assert.Equal(t, test.HealthStatus, result)
		})
	}
}

func TestArgocdCM(t *testing.T) {
	tests, overrides := readCases(t)
	for i := range tests {
		test := tests[i]
		t.Run(test.InputPath, func(t *testing.T) {
			obj := getLiveObj(t, filepath.Join(checkDir, test.InputPath))
			result, err := lua.ResourceHealthOverrides(overrides).GetResourceHealth(obj)
			require.NoError(t, err)
			assert.Equal(t, test.HealthStatus, result)
		})
	}
}

func TestController(t *testing.T) {
	tests, overrides := readCases(t)
	for i := range tests {
		test := tests[i]
		t.Run(test.InputPath, func(t *testing.T) {
			obj := getLiveObj(t, filepath.Join(checkDir, test.InputPath))
			want := test.HealthStatus
			if answer, ok := controllerAnswers[test.InputPath]; ok {
				want = answer
			}
			result, err := health.GetResourceHealth(obj, lua.ResourceHealthOverrides(overrides))
			require.NoError(t, err)
			assert.Equal(t, want, result)
		})
	}
}
