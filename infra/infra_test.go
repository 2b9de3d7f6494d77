package infra_test

// Checks of the Terraform in this directory that need neither Terraform nor its
// providers (the registry is not reachable from CI): every .tf file is parsed with
// hashicorp/hcl/v2, and the values that matter are rendered with hcl_helpers_test.go.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"
)

var serviceNames = []string{"api-gateway", "workflow-agent", "workflow-engine"}

// The monitoring parameters, for environment prod.
const (
	paramAPIKey      = "/ai-teams/prod/monitoring/grafana-cloud-api-key"
	paramCloudConfig = "/ai-teams/prod/monitoring/grafana-cloud-config"
	paramOtelLocal   = "/ai-teams/prod/monitoring/otel-collector-config"
	paramOtelCloud   = "/ai-teams/prod/monitoring/otel-collector-cloud"
)

func ssmARN(name string) string {
	return "arn:aws:ssm:" + testRegion + ":" + testAccount + ":parameter" + name
}

// An image reference pinned by tag (not latest), optionally also by digest.
var pinnedImage = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9._-]+)+:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(@sha256:[0-9a-f]{64})?$`)

func TestFilesParse(t *testing.T) {
	m := loadModule(t)
	for _, want := range []string{"versions.tf", "variables.tf", "monitoring.tf", "ecs.tf", "grafana.tf", "outputs.tf"} {
		if _, ok := m.files[want]; !ok {
			t.Errorf("%s missing", want)
		}
	}
	// Every variable lives in variables.tf.
	for _, v := range m.blocks("variable") {
		if v.file != "variables.tf" {
			t.Errorf("variable %q declared in %s, not variables.tf", v.Labels[0], v.file)
		}
	}
}

func TestReferencedVariablesAreDeclared(t *testing.T) {
	m := loadModule(t)
	declared := map[string]bool{}
	for _, v := range m.blocks("variable") {
		declared[v.Labels[0]] = true
	}
	used := map[string]bool{}
	for file, trs := range m.traversals() {
		for _, tr := range trs {
			if tr.RootName() != "var" {
				continue
			}
			if len(tr) < 2 {
				t.Errorf("%s: bare `var` reference", file)
				continue
			}
			attr, ok := tr[1].(hcl.TraverseAttr)
			if !ok {
				t.Errorf("%s: var referenced by index", file)
				continue
			}
			used[attr.Name] = true
			if !declared[attr.Name] {
				t.Errorf("%s:%d: var.%s is not declared", file, tr.SourceRange().Start.Line, attr.Name)
			}
		}
	}
	for name := range declared {
		if !used[name] {
			t.Errorf("variable %q is declared but never used", name)
		}
	}
	// Same for locals.
	localsDeclared := map[string]bool{}
	for _, lb := range m.blocks("locals") {
		for name := range lb.Body.Attributes {
			if localsDeclared[name] {
				t.Errorf("local.%s declared twice", name)
			}
			localsDeclared[name] = true
		}
	}
	for file, trs := range m.traversals() {
		for _, tr := range trs {
			if tr.RootName() != "local" || len(tr) < 2 {
				continue
			}
			if attr, ok := tr[1].(hcl.TraverseAttr); ok && !localsDeclared[attr.Name] {
				t.Errorf("%s:%d: local.%s is not declared", file, tr.SourceRange().Start.Line, attr.Name)
			}
		}
	}
}

func TestSensitiveVariablesHaveNoDefault(t *testing.T) {
	m := loadModule(t)
	secretish := regexp.MustCompile(`(?i)(api_key|token|password|secret_value|auth)$`)
	sawSensitive := false
	for _, v := range m.blocks("variable") {
		name := v.Labels[0]
		sensitive := false
		if a, ok := v.attr("sensitive"); ok {
			val, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("variable %s: sensitive must be a literal", name)
			}
			sensitive = val.True()
		}
		if sensitive {
			sawSensitive = true
			if _, ok := v.attr("default"); ok {
				t.Errorf("sensitive variable %q has a default", name)
			}
		}
		if secretish.MatchString(name) && !sensitive {
			t.Errorf("variable %q looks like a secret but is not sensitive", name)
		}
	}
	if !sawSensitive {
		t.Fatal("no sensitive variable at all: grafana_cloud_api_key must be sensitive")
	}
	key := m.variable(t, "grafana_cloud_api_key")
	for _, attr := range []string{"sensitive", "ephemeral"} {
		a, ok := key.attr(attr)
		if !ok {
			t.Errorf("grafana_cloud_api_key: %s not set", attr)
			continue
		}
		if v, _ := a.Expr.Value(nil); !v.True() {
			t.Errorf("grafana_cloud_api_key: %s is not true", attr)
		}
	}
	// The example tfvars never carries the token.
	f, diags := hclparse.NewParser().ParseHCLFile("terraform.tfvars.example")
	if diags.HasErrors() {
		t.Fatalf("terraform.tfvars.example: %s", diags.Error())
	}
	declared := map[string]bool{}
	for _, v := range m.blocks("variable") {
		declared[v.Labels[0]] = true
	}
	for name := range f.Body.(*hclsyntax.Body).Attributes {
		if !declared[name] {
			t.Errorf("terraform.tfvars.example sets undeclared variable %q", name)
		}
		if name == "grafana_cloud_api_key" {
			t.Error("terraform.tfvars.example sets grafana_cloud_api_key")
		}
	}
}

func TestEnvironmentValidationIsExactlyDevStagingProd(t *testing.T) {
	m := loadModule(t)
	v := m.variable(t, "environment")
	if _, ok := v.attr("default"); ok {
		t.Error("environment must have no default")
	}
	var validations []*hclsyntax.Block
	for _, b := range v.Body.Blocks {
		if b.Type == "validation" {
			validations = append(validations, b)
		}
	}
	if len(validations) != 1 {
		t.Fatalf("environment: %d validation blocks, want 1", len(validations))
	}
	cond := validations[0].Body.Attributes["condition"].Expr
	// Statically: contains([<literals>], var.environment) with exactly dev, staging, prod.
	call, ok := cond.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "contains" || len(call.Args) != 2 || !refersTo(call.Args[1], "var", "environment") {
		t.Fatalf("environment validation is not contains([...], var.environment)")
	}
	list, diags := call.Args[0].Value(nil)
	if diags.HasErrors() {
		t.Fatalf("environment validation list is not literal: %s", diags.Error())
	}
	var got []string
	for it := list.ElementIterator(); it.Next(); {
		_, e := it.Element()
		got = append(got, e.AsString())
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "dev,prod,staging" {
		t.Errorf("environment validation allows %v, want exactly dev, staging, prod", got)
	}
	// Dynamically: the condition accepts those and rejects others.
	for env, want := range map[string]bool{"dev": true, "staging": true, "prod": true, "qa": false, "Prod": false, "": false} {
		ctx := &hcl.EvalContext{
			Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{"environment": cty.StringVal(env)})},
			Functions: terraformFunctions(),
		}
		val, diags := cond.Value(ctx)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		if val.True() != want {
			t.Errorf("environment %q: validation says %v, want %v", env, val.True(), want)
		}
	}
}

// ssmParameters evaluates every aws_ssm_parameter: name -> instance.
func ssmParameters(t *testing.T, m *module, e *evaluator) map[string]cty.Value {
	t.Helper()
	out := map[string]cty.Value{}
	for _, b := range m.blocks("resource") {
		if b.Labels[0] != "aws_ssm_parameter" {
			continue
		}
		if b.file != "monitoring.tf" {
			t.Errorf("%s declared in %s, not monitoring.tf", b.address(), b.file)
		}
		inst := e.instance("aws_ssm_parameter", b.Labels[1], "")
		out[attrString(t, inst, "name")] = inst
	}
	return out
}

func TestSSMParameters(t *testing.T) {
	m := loadModule(t)
	e := newEvaluator(t, m, baseInputs())
	params := ssmParameters(t, m, e)
	want := map[string]string{
		paramAPIKey:      "SecureString",
		paramCloudConfig: "String",
		paramOtelLocal:   "String",
		paramOtelCloud:   "String",
	}
	for name, typ := range want {
		p, ok := params[name]
		if !ok {
			t.Errorf("SSM parameter %s not declared", name)
			continue
		}
		if got := attrString(t, p, "type"); got != typ {
			t.Errorf("%s: type %s, want %s", name, got, typ)
		}
	}
	for name := range params {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected SSM parameter %s", name)
		}
	}

	// The token: KMS-encrypted with this module's key, write-only from the variable,
	// never a plain value.
	key := m.resource(t, "aws_ssm_parameter", "grafana_cloud_api_key")
	if a, ok := key.attr("key_id"); !ok || !refersTo(a.Expr, "aws_kms_key", "ssm") {
		t.Error("grafana-cloud-api-key: key_id must be aws_kms_key.ssm")
	}
	if a, ok := key.attr("value_wo"); !ok || !refersTo(a.Expr, "var", "grafana_cloud_api_key") {
		t.Error("grafana-cloud-api-key: value_wo must be var.grafana_cloud_api_key")
	}
	for _, forbidden := range []string{"value", "insecure_value"} {
		if _, ok := key.attr(forbidden); ok {
			t.Errorf("grafana-cloud-api-key must not set %s (it would land in the state)", forbidden)
		}
	}
	// No other resource or output may touch the token variable.
	for file, trs := range m.traversals() {
		for _, tr := range trs {
			if tr.RootName() == "var" && len(tr) > 1 {
				if a, ok := tr[1].(hcl.TraverseAttr); ok && a.Name == "grafana_cloud_api_key" && file != "monitoring.tf" && file != "variables.tf" {
					t.Errorf("%s:%d uses var.grafana_cloud_api_key", file, tr.SourceRange().Start.Line)
				}
			}
		}
	}
	kms := e.instance("aws_kms_key", "ssm", "")
	if !kms.GetAttr("enable_key_rotation").True() {
		t.Error("aws_kms_key.ssm: enable_key_rotation must be true")
	}

	// grafana-cloud-config: tenant id and every URL from the variables.
	var cfg map[string]string
	if err := json.Unmarshal([]byte(attrString(t, params[paramCloudConfig], "insecure_value")), &cfg); err != nil {
		t.Fatalf("grafana-cloud-config is not JSON: %v", err)
	}
	in := baseInputs()
	for k, v := range map[string]string{
		"tenant_id":       in["grafana_cloud_tenant_id"].AsString(),
		"prometheus_user": in["grafana_cloud_tenant_id"].AsString(),
		"prometheus_url":  in["grafana_cloud_prometheus_url"].AsString(),
		"loki_url":        in["grafana_cloud_loki_url"].AsString(),
		"otlp_url":        in["grafana_cloud_otlp_url"].AsString(),
	} {
		if cfg[k] != v {
			t.Errorf("grafana-cloud-config %s = %q, want %q", k, cfg[k], v)
		}
	}

	// The collector configs in SSM are the repository's files, comments stripped,
	// with the same meaning, within SSM's 8 KB.
	for name, file := range map[string]string{paramOtelLocal: "../monitoring/otel-collector-config.yml", paramOtelCloud: "../monitoring/otel-collector-cloud.yml"} {
		got := attrString(t, params[name], "insecure_value")
		if len(got) > 8192 {
			t.Errorf("%s: %d bytes, over the 8 KB SSM limit", name, len(got))
		}
		if strings.Contains(got, "\n#") || strings.HasPrefix(got, "#") {
			t.Errorf("%s still has comment lines", name)
		}
		orig, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := yaml.Unmarshal(orig, &a); err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal([]byte(got), &b); err != nil {
			t.Fatalf("%s is not YAML: %v", name, err)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("%s differs in meaning from %s", name, file)
		}
		if p := params[name]; attrString(t, p, "tier") != "Intelligent-Tiering" && len(got) > 4096 {
			t.Errorf("%s is over 4 KB and not in a tier that allows it", name)
		}
	}
}

// containerDefs renders the task definition of one service.
type container struct {
	Name                   string
	Image                  string
	Essential              bool
	Command                []string
	EntryPoint             []string
	User                   string
	ReadonlyRootFilesystem bool
	Environment            []struct{ Name, Value string }
	Secrets                []struct{ Name, ValueFrom string }
	DependsOn              []struct{ ContainerName, Condition string }
	HealthCheck            *struct{ Command []string }
	PortMappings           []struct {
		Name          string
		ContainerPort int
	}
	MountPoints      []struct{ SourceVolume, ContainerPath string }
	LogConfiguration *struct {
		LogDriver string
		Options   map[string]string
	}
}

func (c container) env() map[string]string {
	out := map[string]string{}
	for _, e := range c.Environment {
		out[e.Name] = e.Value
	}
	return out
}

func (c container) secrets() map[string]string {
	out := map[string]string{}
	for _, s := range c.Secrets {
		out[s.Name] = s.ValueFrom
	}
	return out
}

func containerDefs(t *testing.T, e *evaluator, service string) map[string]container {
	t.Helper()
	td := e.instance("aws_ecs_task_definition", "service", service)
	var list []container
	if err := json.Unmarshal([]byte(attrString(t, td, "container_definitions")), &list); err != nil {
		t.Fatalf("%s container_definitions: %v", service, err)
	}
	out := map[string]container{}
	for _, c := range list {
		out[c.Name] = c
	}
	return out
}

// effectiveCollectorConfig merges the local profile and the cloud overlay the way
// the collector does with two --config flags (maps merged key by key, lists
// replaced) and drops the components no pipeline or service entry uses: the
// configuration the ECS collector really runs.
func effectiveCollectorConfig(t *testing.T) map[string]any {
	t.Helper()
	load := func(file string) map[string]any {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return m
	}
	var merge func(dst, src map[string]any)
	merge = func(dst, src map[string]any) {
		for k, v := range src {
			if sm, ok := v.(map[string]any); ok {
				if dm, ok := dst[k].(map[string]any); ok {
					merge(dm, sm)
					continue
				}
			}
			dst[k] = v
		}
	}
	cfg := load("../monitoring/otel-collector-config.yml")
	merge(cfg, load("../monitoring/otel-collector-cloud.yml"))
	service, _ := cfg["service"].(map[string]any)
	used := map[string]map[string]bool{"receivers": {}, "processors": {}, "exporters": {}, "connectors": {}, "extensions": {}}
	for _, x := range asList(service["extensions"]) {
		used["extensions"][x] = true
	}
	pipelines, _ := service["pipelines"].(map[string]any)
	for _, p := range pipelines {
		pm, _ := p.(map[string]any)
		for _, kind := range []string{"receivers", "processors", "exporters"} {
			for _, x := range asList(pm[kind]) {
				used[kind][x] = true
			}
		}
	}
	for kind, names := range used {
		section, _ := cfg[kind].(map[string]any)
		for name := range section {
			if !names[name] {
				delete(section, name)
			}
		}
	}
	return cfg
}

func asList(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// envReferences returns the variables a configuration reads with ${env:NAME}
// (required) and ${env:NAME:-default} (optional).
func envReferences(t *testing.T, cfg map[string]any) (required, optional map[string]bool) {
	t.Helper()
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	required, optional = map[string]bool{}, map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{env:([A-Z0-9_]+)(:-)?`).FindAllStringSubmatch(string(b), -1) {
		if m[2] != "" {
			optional[m[1]] = true
		} else {
			required[m[1]] = true
		}
	}
	return required, optional
}

func TestCollectorTaskReadsTheMonitoringParameters(t *testing.T) {
	m := loadModule(t)
	e := newEvaluator(t, m, baseInputs())
	params := ssmParameters(t, m, e)
	var cfg map[string]string
	if err := json.Unmarshal([]byte(attrString(t, params[paramCloudConfig], "insecure_value")), &cfg); err != nil {
		t.Fatal(err)
	}
	// What the ECS collector runs: every pipeline exports to Grafana Cloud only (no
	// Jaeger, no local files in ECS).
	effective := effectiveCollectorConfig(t)
	pipelines := effective["service"].(map[string]any)["pipelines"].(map[string]any)
	for _, signal := range []string{"traces", "metrics", "logs"} {
		p, ok := pipelines[signal].(map[string]any)
		if !ok {
			t.Fatalf("effective collector config has no %s pipeline", signal)
		}
		cloud := false
		for _, x := range asList(p["exporters"]) {
			if strings.Contains(x, "grafana_cloud") {
				cloud = true
			}
			if strings.Contains(x, "jaeger") || strings.HasPrefix(x, "file") || x == "debug" {
				t.Errorf("ECS %s pipeline exports to %s", signal, x)
			}
		}
		if !cloud {
			t.Errorf("ECS %s pipeline does not export to Grafana Cloud", signal)
		}
	}
	if got := e.instanceKeys("aws_ecs_task_definition", "service"); strings.Join(got, ",") != strings.Join(serviceNames, ",") {
		t.Fatalf("task definitions %v, want %v", got, serviceNames)
	}
	for _, svc := range serviceNames {
		defs := containerDefs(t, e, svc)
		col, ok := defs["otel-collector"]
		if !ok {
			t.Fatalf("%s: no otel-collector container", svc)
		}
		// Secrets: exactly the three monitoring parameters, by ARN, each declared in monitoring.tf.
		wantSecrets := map[string]string{
			"GRAFANA_CLOUD_API_KEY": ssmARN(paramAPIKey),
			"OTEL_CONFIG_LOCAL":     ssmARN(paramOtelLocal),
			"OTEL_CONFIG_CLOUD":     ssmARN(paramOtelCloud),
		}
		gotSecrets := col.secrets()
		if len(gotSecrets) != len(wantSecrets) {
			t.Errorf("%s collector secrets %v, want %v", svc, gotSecrets, wantSecrets)
		}
		for name, arn := range wantSecrets {
			if gotSecrets[name] != arn {
				t.Errorf("%s collector secret %s = %q, want %q", svc, name, gotSecrets[name], arn)
			}
		}
		for _, arn := range gotSecrets {
			found := false
			for pname := range params {
				if ssmARN(pname) == arn {
					found = true
				}
			}
			if !found {
				t.Errorf("%s collector reads %s, which monitoring.tf does not declare", svc, arn)
			}
		}
		// The local profile + cloud overlay, from those parameters.
		if strings.Join(col.Command, " ") != "--config=env:OTEL_CONFIG_LOCAL --config=env:OTEL_CONFIG_CLOUD" {
			t.Errorf("%s collector command %v", svc, col.Command)
		}
		env := col.env()
		for k, v := range map[string]string{
			"ENVIRONMENT":                   "prod",
			"PROJECT":                       "starmates-ai-team",
			"OTEL_COLLECTOR_HOST":           "0.0.0.0",
			"GRAFANA_CLOUD_TENANT_ID":       cfg["tenant_id"],
			"GRAFANA_CLOUD_PROMETHEUS_USER": cfg["prometheus_user"],
			"GRAFANA_CLOUD_PROMETHEUS_URL":  cfg["prometheus_url"],
			"GRAFANA_CLOUD_OTLP_URL":        cfg["otlp_url"],
		} {
			if env[k] != v {
				t.Errorf("%s collector env %s = %q, want %q", svc, k, env[k], v)
			}
		}
		// Every variable the effective configuration reads is decided by the task
		// (set, or a secret); optional ones too, so no local default (127.0.0.1,
		// ./.run/...) leaks into ECS.
		required, optional := envReferences(t, effective)
		for name := range required {
			_, inEnv := env[name]
			_, inSecrets := gotSecrets[name]
			if !inEnv && !inSecrets {
				t.Errorf("%s collector lacks %s, which the ECS configuration requires", svc, name)
			}
		}
		for name := range optional {
			_, inEnv := env[name]
			_, inSecrets := gotSecrets[name]
			if !inEnv && !inSecrets {
				t.Errorf("%s collector does not set %s: the ECS collector would use the local default", svc, name)
			}
		}
		for name := range env {
			if strings.Contains(name, "API_KEY") || strings.Contains(name, "TOKEN") {
				t.Errorf("%s collector has secret-like %s as a plain environment variable", svc, name)
			}
		}
		// Storage on the task volume; health check on the health_check endpoint.
		if env["OTEL_STORAGE_DIR"] == "" || !strings.HasPrefix(env["OTEL_STORAGE_DIR"], "/otel/") {
			t.Errorf("%s collector OTEL_STORAGE_DIR %q is not on the /otel volume", svc, env["OTEL_STORAGE_DIR"])
		}
		if col.HealthCheck == nil || !strings.Contains(strings.Join(col.HealthCheck.Command, " "), "http://127.0.0.1:13133/") || col.HealthCheck.Command[0] != "CMD" {
			t.Errorf("%s collector health check must probe http://127.0.0.1:13133/ with CMD: %+v", svc, col.HealthCheck)
		} else if bin := col.HealthCheck.Command[1]; !strings.HasPrefix(bin, "/otel/") {
			t.Errorf("%s collector health check runs %s, which is not on the volume the init container fills", svc, bin)
		}
		init, ok := defs["otel-init"]
		if !ok || init.Essential {
			t.Fatalf("%s: otel-init missing or essential", svc)
		}
		if !strings.Contains(strings.Join(init.Command, " "), "/otel/busybox") || !strings.Contains(strings.Join(init.Command, " "), "chown 10001:10001 /otel/storage") {
			t.Errorf("%s otel-init command %v does not provide the probe binary and the storage directory", svc, init.Command)
		}
		if len(col.DependsOn) != 1 || col.DependsOn[0].ContainerName != "otel-init" || col.DependsOn[0].Condition != "SUCCESS" {
			t.Errorf("%s collector dependsOn %+v", svc, col.DependsOn)
		}
		if !col.ReadonlyRootFilesystem {
			t.Errorf("%s collector root filesystem should be read-only", svc)
		}
	}
}

func TestServiceContainers(t *testing.T) {
	m := loadModule(t)
	e := newEvaluator(t, m, baseInputs())
	for _, svc := range serviceNames {
		defs := containerDefs(t, e, svc)
		if len(defs) != 3 {
			t.Errorf("%s: containers %v, want otel-init, otel-collector, %s", svc, defs, svc)
		}
		c, ok := defs[svc]
		if !ok || !c.Essential {
			t.Fatalf("%s: no essential service container", svc)
		}
		env := c.env()
		for k, v := range map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317",
			"OTEL_SERVICE_NAME":           svc,
			"ENVIRONMENT":                 "prod",
			"PROJECT":                     "starmates-ai-team",
		} {
			if env[k] != v {
				t.Errorf("%s env %s = %q, want %q", svc, k, env[k], v)
			}
		}
		if len(c.DependsOn) != 1 || c.DependsOn[0].ContainerName != "otel-collector" || c.DependsOn[0].Condition != "HEALTHY" {
			t.Errorf("%s dependsOn %+v, want otel-collector HEALTHY", svc, c.DependsOn)
		}
		group := "/ecs/ai-teams-prod/" + svc
		if got := attrString(t, e.instance("aws_cloudwatch_log_group", "service", svc), "name"); got != group {
			t.Errorf("%s log group %s, want %s", svc, got, group)
		}
		// awslogs for every container, into the service's log group.
		for name, cd := range defs {
			lc := cd.LogConfiguration
			if lc == nil || lc.LogDriver != "awslogs" {
				t.Errorf("%s/%s: log driver is not awslogs", svc, name)
				continue
			}
			for k, v := range map[string]string{"awslogs-group": group, "awslogs-region": testRegion} {
				if lc.Options[k] != v {
					t.Errorf("%s/%s: %s = %q, want %q", svc, name, k, lc.Options[k], v)
				}
			}
			if lc.Options["awslogs-stream-prefix"] == "" {
				t.Errorf("%s/%s: awslogs-stream-prefix missing", svc, name)
			}
		}
		if c.LogConfiguration != nil && c.LogConfiguration.Options["awslogs-stream-prefix"] != svc {
			t.Errorf("%s: stream prefix %q", svc, c.LogConfiguration.Options["awslogs-stream-prefix"])
		}
	}
	gw := containerDefs(t, e, "api-gateway")["api-gateway"].env()
	if gw["WORKFLOW_AGENT_URL"] != "http://workflow-agent:8081" || gw["WORKFLOW_ENGINE_URL"] != "http://workflow-engine:8082" {
		t.Errorf("api-gateway downstream URLs: %v", gw)
	}
}

func TestServiceSecretsAndSettings(t *testing.T) {
	m := loadModule(t)
	in := baseInputs()
	in["service_secrets"] = cty.MapVal(map[string]cty.Value{
		"api-gateway": cty.MapVal(map[string]cty.Value{
			"API_KEYS":     cty.StringVal("/ai-teams/prod/api-gateway/api-keys"),
			"DATABASE_URL": cty.StringVal("/ai-teams/prod/api-gateway/database-url"),
		}),
	})
	in["services"] = cty.ObjectVal(map[string]cty.Value{
		"api-gateway":     cty.EmptyObjectVal,
		"workflow-agent":  cty.ObjectVal(map[string]cty.Value{"log_level": cty.StringVal("INFO"), "environment": cty.MapVal(map[string]cty.Value{"AI_MODEL": cty.StringVal("test-model")})}),
		"workflow-engine": cty.ObjectVal(map[string]cty.Value{"cpu": cty.NumberIntVal(1024), "memory": cty.NumberIntVal(2048)}),
	})
	e := newEvaluator(t, m, in)
	gw := containerDefs(t, e, "api-gateway")["api-gateway"].secrets()
	if gw["API_KEYS"] != ssmARN("/ai-teams/prod/api-gateway/api-keys") || gw["DATABASE_URL"] != ssmARN("/ai-teams/prod/api-gateway/database-url") || len(gw) != 2 {
		t.Errorf("api-gateway secrets %v", gw)
	}
	if s := containerDefs(t, e, "workflow-agent")["workflow-agent"].secrets(); len(s) != 0 {
		t.Errorf("workflow-agent got secrets %v", s)
	}
	agent := containerDefs(t, e, "workflow-agent")["workflow-agent"].env()
	if agent["AI_MODEL"] != "test-model" || agent["LOG_LEVEL"] != "INFO" {
		t.Errorf("workflow-agent env %v", agent)
	}
	// The gateway believes X-Forwarded-For from the load balancer only: the VPC's blocks.
	if got, want := containerDefs(t, e, "api-gateway")["api-gateway"].env()["TRUSTED_PROXIES"], strings.Join(testVPCCIDRs, ","); got != want {
		t.Errorf("api-gateway TRUSTED_PROXIES = %v, want the VPC's CIDR blocks %s", got, want)
	}
	if _, ok := agent["TRUSTED_PROXIES"]; ok {
		t.Error("workflow-agent is not behind the load balancer: no TRUSTED_PROXIES")
	}
	engine := e.instance("aws_ecs_task_definition", "service", "workflow-engine")
	if cpu, mem := toGo(t, engine.GetAttr("cpu")), toGo(t, engine.GetAttr("memory")); cpu != 1024.0 || mem != 2048.0 {
		t.Errorf("workflow-engine task size cpu=%v memory=%v", cpu, mem)
	}
	// The gateway's execution role reads its two secrets too, the agent's does not.
	gwPolicy := policyStatements(t, m, e, "api-gateway")
	if got := gwPolicy["ReadTaskParameters"].resources; !contains(got, ssmARN("/ai-teams/prod/api-gateway/api-keys")) || len(got) != 5 {
		t.Errorf("api-gateway may read %v", got)
	}
	if got := policyStatements(t, m, e, "workflow-agent")["ReadTaskParameters"].resources; len(got) != 3 {
		t.Errorf("workflow-agent may read %v, want only the 3 collector parameters", got)
	}
}

func TestImagesArePinned(t *testing.T) {
	m := loadModule(t)
	in := baseInputs()
	in["image_digests"] = cty.MapVal(map[string]cty.Value{
		"workflow-engine": cty.StringVal("sha256:" + strings.Repeat("ab", 32)),
	})
	e := newEvaluator(t, m, in)
	for _, svc := range serviceNames {
		for name, c := range containerDefs(t, e, svc) {
			mm := pinnedImage.FindStringSubmatch(c.Image)
			if mm == nil || strings.EqualFold(mm[3], "latest") {
				t.Errorf("%s/%s: image %q is not pinned to a tag", svc, name, c.Image)
			}
		}
	}
	defs := containerDefs(t, e, "workflow-engine")
	if got, want := defs["workflow-engine"].Image, "registry.example.invalid/ai-teams/workflow-engine:v1.4.2@sha256:"+strings.Repeat("ab", 32); got != want {
		t.Errorf("workflow-engine image %q, want %q", got, want)
	}
	if got := defs["otel-collector"].Image; got != "otel/opentelemetry-collector-contrib:0.158.0" {
		t.Errorf("collector image %q, want the release of collector/ (0.158.0)", got)
	}
	if got := containerDefs(t, e, "api-gateway")["api-gateway"].Image; got != "registry.example.invalid/ai-teams/api-gateway:v1.4.2" {
		t.Errorf("api-gateway image %q", got)
	}

	// The validations refuse latest and untagged references.
	check := func(variable, value string, want bool) {
		t.Helper()
		v := m.variable(t, variable)
		ok := true
		for _, b := range v.Body.Blocks {
			if b.Type != "validation" {
				continue
			}
			ctx := &hcl.EvalContext{
				Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{variable: cty.StringVal(value)})},
				Functions: terraformFunctions(),
			}
			r, diags := b.Body.Attributes["condition"].Expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			ok = ok && r.True()
		}
		if ok != want {
			t.Errorf("%s = %q: validation passes = %v, want %v", variable, value, ok, want)
		}
	}
	for _, variable := range []string{"otel_collector_image", "otel_init_image"} {
		check(variable, "otel/opentelemetry-collector-contrib:0.158.0", true)
		check(variable, "otel/opentelemetry-collector-contrib:0.158.0@sha256:"+strings.Repeat("0f", 32), true)
		check(variable, "otel/opentelemetry-collector-contrib:latest", false)
		check(variable, "otel/opentelemetry-collector-contrib", false)
		check(variable, "otel/opentelemetry-collector-contrib:latest@sha256:"+strings.Repeat("0f", 32), false)
		def, _ := m.variable(t, variable).Body.Attributes["default"].Expr.Value(nil)
		check(variable, def.AsString(), true)
	}
	check("image_tag", "v1.4.2", true)
	check("image_tag", "latest", false)
	check("image_tag", "LATEST", false)
	check("image_tag", "", false)
}

type statement struct {
	actions, resources []string
	conditions         int
}

// policyStatements renders data.aws_iam_policy_document.execution_secrets[service].
func policyStatements(t *testing.T, m *module, e *evaluator, service string) map[string]statement {
	t.Helper()
	doc := m.data(t, "aws_iam_policy_document", "execution_secrets")
	extra := map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{
		"key": cty.StringVal(service), "value": e.local("service_defs").GetAttr(service),
	})}
	strs := func(v cty.Value) []string {
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, s := it.Element()
			out = append(out, s.AsString())
		}
		return out
	}
	out := map[string]statement{}
	for _, b := range doc.Body.Blocks {
		if b.Type != "statement" {
			t.Errorf("execution_secrets: unexpected block %s", b.Type)
			continue
		}
		sid := e.eval(b.Body.Attributes["sid"].Expr, extra).AsString()
		st := statement{
			actions:   strs(e.eval(b.Body.Attributes["actions"].Expr, extra)),
			resources: strs(e.eval(b.Body.Attributes["resources"].Expr, extra)),
		}
		for _, nb := range b.Body.Blocks {
			if nb.Type == "condition" {
				st.conditions++
			}
		}
		if _, ok := b.Body.Attributes["effect"]; ok {
			t.Errorf("statement %s sets effect (Allow is the default; Deny is not expected)", sid)
		}
		for _, forbidden := range []string{"not_actions", "not_resources"} {
			if _, ok := b.Body.Attributes[forbidden]; ok {
				t.Errorf("statement %s uses %s", sid, forbidden)
			}
		}
		out[sid] = st
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestExecutionRoleLeastPrivilege(t *testing.T) {
	m := loadModule(t)
	e := newEvaluator(t, m, baseInputs())
	kmsARN := attrString(t, e.instance("aws_kms_key", "ssm", ""), "arn")
	for _, svc := range serviceNames {
		st := policyStatements(t, m, e, svc)
		if len(st) != 2 {
			t.Errorf("%s: statements %v, want ReadTaskParameters and DecryptTaskParameters", svc, st)
		}
		read, dec := st["ReadTaskParameters"], st["DecryptTaskParameters"]
		if strings.Join(read.actions, ",") != "ssm:GetParameters" {
			t.Errorf("%s: parameter actions %v, want ssm:GetParameters", svc, read.actions)
		}
		want := []string{ssmARN(paramAPIKey), ssmARN(paramOtelLocal), ssmARN(paramOtelCloud)}
		sort.Strings(want)
		got := append([]string(nil), read.resources...)
		sort.Strings(got)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: may read\n%v\nwant exactly\n%v", svc, got, want)
		}
		// The task reads exactly what the role allows.
		var reads []string
		for _, c := range containerDefs(t, e, svc) {
			for _, s := range c.Secrets {
				reads = append(reads, s.ValueFrom)
			}
		}
		sort.Strings(reads)
		if strings.Join(reads, "\n") != strings.Join(got, "\n") {
			t.Errorf("%s: task reads %v but the role allows %v", svc, reads, got)
		}
		if strings.Join(dec.actions, ",") != "kms:Decrypt" || strings.Join(dec.resources, ",") != kmsARN || dec.conditions != 1 {
			t.Errorf("%s: decrypt statement %+v, want kms:Decrypt on %s via SSM only", svc, dec, kmsARN)
		}
		for _, s := range st {
			for _, x := range append(append([]string{}, s.actions...), s.resources...) {
				if strings.Contains(x, "*") {
					t.Errorf("%s: wildcard %q in the secrets policy", svc, x)
				}
			}
		}
		role := e.instance("aws_ecs_task_definition", "service", svc)
		if got, want := attrString(t, role, "execution_role_arn"), attrString(t, e.instance("aws_iam_role", "execution", svc), "arn"); got != want {
			t.Errorf("%s: execution_role_arn %s, want its own role %s", svc, got, want)
		}
	}
	// Statically: no wildcard resource or action in any policy document of the module,
	// and the only managed policy is the ECS task execution one (no SSM/KMS in it).
	for _, d := range m.blocks("data") {
		if d.Labels[0] != "aws_iam_policy_document" {
			continue
		}
		for _, s := range literalStrings(d.Body) {
			if s == "*" || strings.HasSuffix(s, ":*") || strings.HasSuffix(s, "/*") {
				t.Errorf("%s: wildcard %q", d.address(), s)
			}
		}
	}
	for _, r := range m.blocks("resource") {
		switch r.Labels[0] {
		case "aws_iam_role_policy_attachment":
			arn := attrString(t, e.instance(r.Labels[0], r.Labels[1], svcKey(e, r)), "policy_arn")
			if !strings.HasSuffix(arn, ":iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy") {
				t.Errorf("%s attaches %s", r.address(), arn)
			}
		case "aws_iam_policy", "aws_iam_user_policy", "aws_iam_group_policy":
			t.Errorf("%s: unexpected policy resource", r.address())
		case "aws_iam_role_policy":
			if a, ok := r.attr("policy"); !ok || !refersTo(a.Expr, "data", "aws_iam_policy_document") {
				t.Errorf("%s: policy must come from an aws_iam_policy_document", r.address())
			}
		}
	}
}

// svcKey returns the first instance key of a for_each resource ("" otherwise).
func svcKey(e *evaluator, r block) string {
	if _, ok := r.attr("for_each"); ok {
		return e.instanceKeys(r.Labels[0], r.Labels[1])[0]
	}
	return ""
}

func TestGrafanaObjectsAreBehindTheToggle(t *testing.T) {
	m := loadModule(t)
	n := 0
	for _, r := range m.blocks("resource") {
		if !strings.HasPrefix(r.Labels[0], "grafana_") {
			continue
		}
		n++
		var guard *hclsyntax.Attribute
		for _, name := range []string{"count", "for_each"} {
			if a, ok := r.attr(name); ok {
				guard = a
			}
		}
		if guard == nil || !refersTo(guard.Expr, "var", "manage_grafana") {
			t.Errorf("%s is not behind var.manage_grafana", r.address())
		}
	}
	for _, want := range []string{"grafana_folder", "grafana_dashboard", "grafana_rule_group", "grafana_oncall_integration", "grafana_contact_point"} {
		found := false
		for _, r := range m.blocks("resource") {
			found = found || r.Labels[0] == want
		}
		if !found {
			t.Errorf("no %s resource", want)
		}
	}
	if n == 0 {
		t.Fatal("no grafana resources")
	}
	// Default: nothing to create, and the provider gets no URL (no credentials needed).
	e := newEvaluator(t, m, baseInputs())
	for _, r := range m.blocks("resource") {
		if !strings.HasPrefix(r.Labels[0], "grafana_") {
			continue
		}
		if v := e.resources[r.Labels[0]][r.Labels[1]]; v.LengthInt() != 0 {
			t.Errorf("%s has instances with manage_grafana = false", r.address())
		}
	}
	for _, p := range m.blocks("provider") {
		if p.Labels[0] != "grafana" {
			continue
		}
		if url := e.eval(p.Body.Attributes["url"].Expr, nil); !url.IsNull() {
			t.Errorf("grafana provider url is %#v with manage_grafana = false", url)
		}
		if _, ok := p.attr("auth"); ok {
			t.Error("grafana provider auth must come from GRAFANA_AUTH, not from Terraform")
		}
	}
	// No Grafana-related variable is sensitive without being required, i.e. nothing
	// Grafana needs is a secret default.
	for _, v := range m.blocks("variable") {
		if strings.HasPrefix(v.Labels[0], "grafana_") && !strings.HasPrefix(v.Labels[0], "grafana_cloud_") {
			if _, ok := v.attr("default"); !ok {
				t.Errorf("variable %s (Grafana objects) needs a default so plan works without Grafana", v.Labels[0])
			}
		}
	}
}

// promRule is one rule of monitoring/alert-rules.yml.
type promRule struct {
	Alert, Record, Expr, For string
	Labels, Annotations      map[string]string
}

func TestGrafanaRulesMirrorAlertRulesFile(t *testing.T) {
	raw, err := os.ReadFile("../monitoring/alert-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name     string
			Interval string
			Rules    []promRule
		}
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	m := loadModule(t)
	in := baseInputs()
	in["manage_grafana"] = cty.True
	in["grafana_url"] = cty.StringVal("https://stack.example.invalid")
	e := newEvaluator(t, m, in)
	excluded := map[string]bool{}
	for _, x := range toGo(t, e.vars["grafana_excluded_rules"]).([]any) {
		excluded[x.(string)] = true
	}
	if !excluded["CollectorDown"] {
		t.Error("CollectorDown (absent(up{job=...}) of the local Prometheus) must be excluded in Grafana Cloud")
	}
	groups := toGo(t, e.local("grafana_rule_groups")).(map[string]any)
	seconds := toGo(t, e.local("grafana_rule_group_seconds")).(map[string]any)
	seen := map[string]bool{}
	for _, g := range file.Groups {
		var kept []promRule
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			if !excluded[name] {
				kept = append(kept, r)
			}
		}
		got, ok := groups[g.Name].(map[string]any)
		if len(kept) == 0 {
			if ok {
				t.Errorf("group %s has only excluded rules but exists", g.Name)
			}
			continue
		}
		if !ok {
			t.Errorf("group %s missing", g.Name)
			continue
		}
		if g.Interval == "" && seconds[g.Name].(float64) != 60 {
			t.Errorf("group %s interval %v s, want the 1m default", g.Name, seconds[g.Name])
		}
		rules := got["rules"].([]any)
		if len(rules) != len(kept) {
			t.Errorf("group %s: %d rules, want %d", g.Name, len(rules), len(kept))
			continue
		}
		for i, r := range kept {
			gr := rules[i].(map[string]any)
			name := r.Alert + r.Record
			seen[name] = true
			if gr["name"] != name || gr["expr"] != strings.TrimSpace(r.Expr) {
				t.Errorf("%s/%d: got %v/%v, want %s", g.Name, i, gr["name"], gr["expr"], name)
			}
			if (r.Record != "") != (gr["record"] != nil) {
				t.Errorf("%s: record = %v", name, gr["record"])
			}
			if r.For != "" && gr["pending"] != r.For {
				t.Errorf("%s: for %v, want %s", name, gr["pending"], r.For)
			}
			labels, _ := gr["labels"].(map[string]any)
			for k, v := range r.Labels {
				if labels[k] != v {
					t.Errorf("%s: label %s = %v, want %s", name, k, labels[k], v)
				}
			}
			ann, _ := gr["annotations"].(map[string]any)
			for k, v := range r.Annotations {
				want := regexp.MustCompile(`\$value\b`).ReplaceAllString(v, "$$values.query.Value")
				if ann[k] != want {
					t.Errorf("%s: annotation %s = %v, want %s", name, k, ann[k], want)
				}
			}
		}
	}
	for name := range excluded {
		if seen[name] {
			t.Errorf("excluded rule %s was converted", name)
		}
	}
	// The cloud replacement of CollectorDown pages on missing telemetry from prod.
	cloud, ok := groups["cloud-telemetry"].(map[string]any)
	if !ok || len(cloud["rules"].([]any)) != 1 || !strings.Contains(cloud["rules"].([]any)[0].(map[string]any)["expr"].(string), `environment="prod"`) {
		t.Errorf("cloud-telemetry group %v", groups["cloud-telemetry"])
	}
	// With the toggle on, every grafana resource is planned.
	for _, r := range []string{"grafana_folder.ai_teams", "grafana_oncall_integration.ai_teams", "grafana_contact_point.oncall"} {
		parts := strings.Split(r, ".")
		if v := e.resources[parts[0]][parts[1]]; v.LengthInt() != 1 {
			t.Errorf("%s: %d instances with manage_grafana = true", r, v.LengthInt())
		}
	}
	// Every dashboard of monitoring/dashboards, unchanged, with a stable uid.
	files, _ := filepath.Glob("../monitoring/dashboards/*.json")
	dash := e.resources["grafana_dashboard"]["ai_teams"]
	if dash.LengthInt() != len(files) {
		t.Errorf("%d dashboards planned, %d files in monitoring/dashboards", dash.LengthInt(), len(files))
	}
	for _, f := range files {
		key := filepath.Base(f)
		if !dash.Type().HasAttribute(key) {
			t.Errorf("dashboard %s not planned", key)
			continue
		}
		var model map[string]any
		if err := json.Unmarshal([]byte(attrString(t, dash.GetAttr(key), "config_json")), &model); err != nil {
			t.Errorf("%s: %v", key, err)
		}
		if uid, _ := model["uid"].(string); uid == "" {
			t.Errorf("%s has no uid: its URL would change on every re-creation", key)
		}
	}
	if got := e.local("grafana_contact_point").AsString(); got != "ai-teams-oncall" {
		t.Errorf("alerts route to %q, want the OnCall contact point", got)
	}
	if v := e.resources["grafana_rule_group"]["ai_teams"]; v.LengthInt() != len(groups) {
		t.Errorf("%d rule groups planned, want %d", v.LengthInt(), len(groups))
	}
}

// TestDeployDocMatchesInfra: docs/deploy.md names every SSM parameter, every input
// without a default, and the outputs/commands it relies on.
func TestDeployDocMatchesInfra(t *testing.T) {
	raw, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	m := loadModule(t)
	e := newEvaluator(t, m, baseInputs())
	for name := range ssmParameters(t, m, e) {
		generic := strings.Replace(name, "/prod/", "/<environment>/", 1)
		if !strings.Contains(doc, generic) {
			t.Errorf("docs/deploy.md does not name %s", generic)
		}
	}
	for _, v := range m.blocks("variable") {
		if _, ok := v.attr("default"); !ok && !strings.Contains(doc, v.Labels[0]) {
			t.Errorf("docs/deploy.md does not mention the required input %s", v.Labels[0])
		}
	}
	for _, o := range m.blocks("output") {
		if !strings.Contains(doc, o.Labels[0]) {
			t.Errorf("docs/deploy.md does not mention output %s", o.Labels[0])
		}
	}
	for _, s := range []string{
		"TF_VAR_grafana_cloud_api_key", "GRAFANA_AUTH", "manage_grafana", "terraform init", "terraform plan", "terraform apply",
		"update-service", "--force-new-deployment", "/ecs/ai-teams-<environment>/", "alias/ai-teams-<environment>-ssm",
		"scripts/terraform-validate.sh", "13133", "otel/opentelemetry-collector-contrib:0.158.0",
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("docs/deploy.md does not mention %q", s)
		}
	}
}
