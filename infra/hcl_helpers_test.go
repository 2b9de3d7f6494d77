package infra_test

// Helpers of the infra tests: parse every .tf file of this directory with
// hashicorp/hcl/v2 and evaluate what can be evaluated without Terraform, its
// providers or AWS: variables (defaults + the test's inputs, with the declared type
// constraints and optional() defaults), locals, and resource/data attributes, with
// the provider-computed attributes the module reads (arn, id, name, ...) filled in
// deterministically. That is enough to render the ECS container definitions, the IAM
// policy documents, the SSM parameters and the converted Grafana rules.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"gopkg.in/yaml.v3"
)

const (
	testAccount = "123456789012"
	testRegion  = "eu-west-1"
)

// presetData are the data sources whose results the tests supply.
var presetData = map[string]bool{"aws_caller_identity": true, "aws_partition": true, "aws_vpc": true}

// testVPCCIDRs are the CIDR blocks of the test's VPC: a primary and a secondary one.
var testVPCCIDRs = []string{"10.0.0.0/16", "100.64.0.0/16"}

// lastPending describes what the last evaluator could not evaluate (for messages).
var lastPending string

// module is the parsed configuration of this directory.
type module struct {
	files map[string]*hclsyntax.Body // file name -> body
}

func loadModule(t *testing.T) *module {
	t.Helper()
	return loadModuleDir(t, ".")
}

func loadModuleDir(t *testing.T, dir string) *module {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("no .tf files in %s", dir)
	}
	p := hclparse.NewParser()
	m := &module{files: map[string]*hclsyntax.Body{}}
	for _, name := range names {
		f, diags := p.ParseHCLFile(name)
		if diags.HasErrors() {
			t.Fatalf("parse %s: %s", name, diags.Error())
		}
		m.files[filepath.Base(name)] = f.Body.(*hclsyntax.Body)
	}
	return m
}

// fileNames returns the .tf file names, sorted.
func (m *module) fileNames() []string {
	var out []string
	for n := range m.files {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// block is a top-level block with the file it is in.
type block struct {
	file string
	*hclsyntax.Block
}

func (b block) attr(name string) (*hclsyntax.Attribute, bool) {
	a, ok := b.Body.Attributes[name]
	return a, ok
}

func (b block) address() string {
	return b.Type + "." + strings.Join(b.Labels, ".")
}

// blocks returns every top-level block of the given type (all files, sorted by file).
func (m *module) blocks(typ string) []block {
	var out []block
	for _, name := range m.fileNames() {
		for _, b := range m.files[name].Blocks {
			if b.Type == typ {
				out = append(out, block{file: name, Block: b})
			}
		}
	}
	return out
}

func (m *module) resource(t *testing.T, typ, name string) block {
	t.Helper()
	return m.declared(t, "resource", typ, name)
}

func (m *module) data(t *testing.T, typ, name string) block {
	t.Helper()
	return m.declared(t, "data", typ, name)
}

// declared returns the kind ("resource", "data") block typ.name.
func (m *module) declared(t *testing.T, kind, typ, name string) block {
	t.Helper()
	for _, b := range m.blocks(kind) {
		if b.Labels[0] == typ && b.Labels[1] == name {
			return b
		}
	}
	t.Fatalf("%s %s.%s not declared", kind, typ, name)
	return block{}
}

func (m *module) variable(t *testing.T, name string) block {
	t.Helper()
	for _, b := range m.blocks("variable") {
		if b.Labels[0] == name {
			return b
		}
	}
	t.Fatalf("variable %q not declared", name)
	return block{}
}

// traversals returns every scope traversal anywhere in the module (attributes,
// nested and dynamic blocks, templates, for expressions), with the file it is in.
func (m *module) traversals() map[string][]hcl.Traversal {
	out := map[string][]hcl.Traversal{}
	for _, name := range m.fileNames() {
		hclsyntax.VisitAll(m.files[name], func(n hclsyntax.Node) hcl.Diagnostics {
			if e, ok := n.(*hclsyntax.ScopeTraversalExpr); ok {
				out[name] = append(out[name], e.Traversal)
			}
			return nil
		})
	}
	return out
}

// literalStrings returns every literal string part anywhere under node.
func literalStrings(node hclsyntax.Node) []string {
	var out []string
	hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		switch e := n.(type) {
		case *hclsyntax.LiteralValueExpr:
			if e.Val.Type() == cty.String && e.Val.IsKnown() && !e.Val.IsNull() {
				out = append(out, e.Val.AsString())
			}
		case *hclsyntax.TemplateExpr:
			for _, p := range e.Parts {
				if l, ok := p.(*hclsyntax.LiteralValueExpr); ok && l.Val.Type() == cty.String {
					out = append(out, l.Val.AsString())
				}
			}
		}
		return nil
	})
	return out
}

// refersTo reports whether expr references the traversal root.attr (e.g. var.manage_grafana).
func refersTo(expr hcl.Expression, root, attr string) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != root || len(tr) < 2 {
			continue
		}
		if a, ok := tr[1].(hcl.TraverseAttr); ok && a.Name == attr {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------------
// Evaluation

// evaluator renders the module's values for one set of input variables.
type evaluator struct {
	t      *testing.T
	m      *module
	vars   map[string]cty.Value
	locals map[string]cty.Value
	// resources and data sources: type -> name -> value (object, tuple for count,
	// object keyed by for_each key).
	resources map[string]map[string]cty.Value
	data      map[string]map[string]cty.Value
	// errors of the last pass, by address, for failure messages.
	pending map[string]string
}

// baseInputs are valid values for the variables without default (placeholders
// only: no real host, id or token).
func baseInputs() map[string]cty.Value {
	return map[string]cty.Value{
		"environment":                  cty.StringVal("prod"),
		"aws_region":                   cty.StringVal(testRegion),
		"grafana_cloud_api_key":        cty.StringVal("test-placeholder-not-a-token"),
		"grafana_cloud_tenant_id":      cty.StringVal("100001"),
		"grafana_cloud_prometheus_url": cty.StringVal("https://prometheus.example.invalid/api/prom/push"),
		"grafana_cloud_loki_url":       cty.StringVal("https://logs.example.invalid/loki/api/v1/push"),
		"grafana_cloud_otlp_url":       cty.StringVal("https://otlp.example.invalid/otlp"),
		"image_registry":               cty.StringVal("registry.example.invalid/ai-teams"),
		"image_tag":                    cty.StringVal("v1.4.2"),
		"vpc_id":                       cty.StringVal("vpc-0a1b2c3d"),
		"subnet_ids":                   cty.ListVal([]cty.Value{cty.StringVal("subnet-0a1b2c3d")}),
	}
}

func newEvaluator(t *testing.T, m *module, inputs map[string]cty.Value) *evaluator {
	t.Helper()
	e := &evaluator{t: t, m: m, vars: map[string]cty.Value{}, locals: map[string]cty.Value{},
		resources: map[string]map[string]cty.Value{}, data: map[string]map[string]cty.Value{}}
	for _, v := range m.blocks("variable") {
		name := v.Labels[0]
		val := cty.NullVal(cty.DynamicPseudoType)
		if d, ok := v.attr("default"); ok {
			dv, diags := d.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("variable %s default: %s", name, diags.Error())
			}
			val = dv
		}
		if in, ok := inputs[name]; ok {
			val = in
		}
		if val.IsNull() {
			t.Fatalf("variable %s has no default and the test gives no value", name)
		}
		if ta, ok := v.attr("type"); ok {
			ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(ta.Expr)
			if diags.HasErrors() {
				t.Fatalf("variable %s type: %s", name, diags.Error())
			}
			if defaults != nil {
				val = defaults.Apply(val)
			}
			cv, err := convert.Convert(val, ty)
			if err != nil {
				t.Fatalf("variable %s: value does not match its type: %v", name, err)
			}
			val = cv
		}
		e.vars[name] = val
	}
	e.data["aws_caller_identity"] = map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{
		"account_id": cty.StringVal(testAccount),
	})}
	e.data["aws_partition"] = map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{
		"partition": cty.StringVal("aws"),
	})}
	var associations []cty.Value
	for _, c := range testVPCCIDRs {
		associations = append(associations, cty.ObjectVal(map[string]cty.Value{"cidr_block": cty.StringVal(c)}))
	}
	e.data["aws_vpc"] = map[string]cty.Value{"services": cty.ObjectVal(map[string]cty.Value{
		"cidr_block_associations": cty.TupleVal(associations),
	})}
	e.run()
	return e
}

func (e *evaluator) ctx(extra map[string]cty.Value) *hcl.EvalContext {
	vars := map[string]cty.Value{
		"var":   cty.ObjectVal(e.vars),
		"local": cty.ObjectVal(e.locals),
		"path": cty.ObjectVal(map[string]cty.Value{
			"module": cty.StringVal("."),
			"root":   cty.StringVal("."),
			"cwd":    cty.StringVal("."),
		}),
		"terraform": cty.ObjectVal(map[string]cty.Value{"workspace": cty.StringVal("default")}),
	}
	for typ, byName := range e.resources {
		vars[typ] = cty.ObjectVal(byName)
	}
	dataVals := map[string]cty.Value{}
	for typ, byName := range e.data {
		dataVals[typ] = cty.ObjectVal(byName)
	}
	vars["data"] = cty.ObjectVal(dataVals)
	for k, v := range extra {
		vars[k] = v
	}
	return &hcl.EvalContext{Variables: vars, Functions: terraformFunctions()}
}

// run evaluates locals and resources until nothing new can be evaluated.
func (e *evaluator) run() {
	for pass := 0; pass < 20; pass++ {
		e.pending = map[string]string{}
		progress := false
		for _, lb := range e.m.blocks("locals") {
			for name, a := range lb.Body.Attributes {
				if _, done := e.locals[name]; done {
					continue
				}
				v, diags := a.Expr.Value(e.ctx(nil))
				if diags.HasErrors() || !v.IsWhollyKnown() {
					e.pending["local."+name] = diags.Error()
					continue
				}
				e.locals[name] = v
				progress = true
			}
		}
		for _, kind := range []string{"resource", "data"} {
			for _, b := range e.m.blocks(kind) {
				typ, name := b.Labels[0], b.Labels[1]
				store := e.resources
				if kind == "data" {
					store = e.data
				}
				if kind == "data" && presetData[typ] {
					continue
				}
				// Re-evaluated every pass: attributes that need locals or other
				// resources become known in later passes.
				v, err := e.evalBlock(b)
				if err != nil {
					e.pending[b.address()] = err.Error()
					continue
				}
				if store[typ] == nil {
					store[typ] = map[string]cty.Value{}
				}
				if old, ok := store[typ][name]; !ok || !old.RawEquals(v) {
					progress = true
				}
				store[typ][name] = v
			}
		}
		if !progress {
			lastPending = fmt.Sprint(e.pending)
			return
		}
	}
}

// evalBlock renders one resource or data block: its instances (count / for_each)
// with every top-level attribute that evaluates, plus computed attributes.
func (e *evaluator) evalBlock(b block) (cty.Value, error) {
	if a, ok := b.attr("for_each"); ok {
		fe, diags := a.Expr.Value(e.ctx(nil))
		if diags.HasErrors() {
			return cty.NilVal, diags
		}
		if !fe.IsWhollyKnown() {
			return cty.NilVal, fmt.Errorf("for_each unknown")
		}
		insts := map[string]cty.Value{}
		for it := fe.ElementIterator(); it.Next(); {
			k, v := it.Element()
			if fe.Type().IsSetType() {
				k = v
			}
			key := k.AsString()
			insts[key] = e.evalInstance(b, map[string]cty.Value{
				"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(key), "value": v}),
			}, key)
		}
		return cty.ObjectVal(insts), nil
	}
	if a, ok := b.attr("count"); ok {
		cv, diags := a.Expr.Value(e.ctx(nil))
		if diags.HasErrors() {
			return cty.NilVal, diags
		}
		n, _ := cv.AsBigFloat().Int64()
		var insts []cty.Value
		for i := int64(0); i < n; i++ {
			insts = append(insts, e.evalInstance(b, map[string]cty.Value{
				"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(i)}),
			}, fmt.Sprint(i)))
		}
		if len(insts) == 0 {
			return cty.EmptyTupleVal, nil
		}
		return cty.TupleVal(insts), nil
	}
	return e.evalInstance(b, nil, ""), nil
}

func (e *evaluator) evalInstance(b block, extra map[string]cty.Value, key string) cty.Value {
	attrs := map[string]cty.Value{}
	for name, a := range b.Body.Attributes {
		if name == "count" || name == "for_each" || name == "depends_on" {
			continue
		}
		v, diags := a.Expr.Value(e.ctx(extra))
		if diags.HasErrors() || !v.IsWhollyKnown() {
			e.pending[b.address()+"."+name] = diags.Error()
			continue
		}
		attrs[name] = v
	}
	typ, label := b.Labels[0], b.Labels[1]
	id := typ + "." + label
	if key != "" {
		id += "[" + key + "]"
	}
	service := strings.SplitN(strings.TrimPrefix(typ, "aws_"), "_", 2)[0]
	arn := fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, testRegion, testAccount, id)
	switch typ {
	case "aws_ssm_parameter":
		if n, ok := attrs["name"]; ok {
			arn = fmt.Sprintf("arn:aws:ssm:%s:%s:parameter%s", testRegion, testAccount, n.AsString())
		}
	case "aws_kms_key":
		arn = fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", testRegion, testAccount, "00000000-test-"+label)
	case "aws_iam_role":
		if n, ok := attrs["name"]; ok {
			arn = fmt.Sprintf("arn:aws:iam::%s:role/%s", testAccount, n.AsString())
		}
	}
	computed := map[string]cty.Value{
		"arn":    cty.StringVal(arn),
		"id":     cty.StringVal(id),
		"key_id": cty.StringVal("key-" + id),
		"uid":    cty.StringVal("uid-" + label),
		"link":   cty.StringVal("https://oncall.example.invalid/integrations/" + label),
		"url":    cty.StringVal("https://grafana.example.invalid/" + label),
		"json":   cty.StringVal("{}"),
	}
	for k, v := range computed {
		if _, set := attrs[k]; !set {
			attrs[k] = v
		}
	}
	if _, set := attrs["name"]; !set {
		attrs["name"] = cty.StringVal(label)
	}
	return cty.ObjectVal(attrs)
}

// eval evaluates an expression in the module's context plus extra variables.
func (e *evaluator) eval(expr hcl.Expression, extra map[string]cty.Value) cty.Value {
	e.t.Helper()
	v, diags := expr.Value(e.ctx(extra))
	if diags.HasErrors() {
		e.t.Fatalf("evaluate %s: %s\n(unevaluated: %v)", exprRange(expr), diags.Error(), e.pending)
	}
	return v
}

func exprRange(expr hcl.Expression) string {
	r := expr.Range()
	return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line)
}

func (e *evaluator) local(name string) cty.Value {
	e.t.Helper()
	v, ok := e.locals[name]
	if !ok {
		e.t.Fatalf("local.%s could not be evaluated: %s", name, e.pending["local."+name])
	}
	return v
}

// instance returns one evaluated resource instance (key "" = no count/for_each).
func (e *evaluator) instance(typ, name, key string) cty.Value {
	e.t.Helper()
	v, ok := e.resources[typ][name]
	if !ok {
		e.t.Fatalf("%s.%s could not be evaluated: %s", typ, name, e.pending["resource."+typ+"."+name])
	}
	if key == "" {
		return v
	}
	if v.Type().IsTupleType() {
		var i int
		fmt.Sscan(key, &i)
		return v.Index(cty.NumberIntVal(int64(i)))
	}
	if !v.Type().HasAttribute(key) {
		e.t.Fatalf("%s.%s has no instance %q", typ, name, key)
	}
	return v.GetAttr(key)
}

// instanceKeys returns the for_each keys of a resource.
func (e *evaluator) instanceKeys(typ, name string) []string {
	e.t.Helper()
	v, ok := e.resources[typ][name]
	if !ok {
		e.t.Fatalf("%s.%s could not be evaluated: %s", typ, name, e.pending["resource."+typ+"."+name])
	}
	var keys []string
	for k := range v.Type().AttributeTypes() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func attrString(t *testing.T, v cty.Value, name string) string {
	t.Helper()
	if !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		t.Fatalf("attribute %q missing (or not evaluable); %s", name, lastPending)
	}
	a := v.GetAttr(name)
	if a.IsNull() || a.Type() != cty.String {
		t.Fatalf("attribute %q is not a string: %#v", name, a)
	}
	return a.AsString()
}

// toGo converts a cty value to plain Go values through JSON.
func toGo(t *testing.T, v cty.Value) any {
	t.Helper()
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// ---------------------------------------------------------------------------------
// The Terraform functions this module uses, under their Terraform names. Most come
// from go-cty's stdlib (where Terraform itself takes them from) or hcl's tryfunc;
// the few that are Terraform's own are written here, for the cases the module uses.

func terraformFunctions() map[string]function.Function {
	return map[string]function.Function{
		"concat":          stdlib.ConcatFunc,
		"contains":        stdlib.ContainsFunc,
		"flatten":         stdlib.FlattenFunc,
		"floor":           stdlib.FloorFunc,
		"join":            stdlib.JoinFunc,
		"jsonencode":      stdlib.JSONEncodeFunc,
		"keys":            stdlib.KeysFunc,
		"lookup":          stdlib.LookupFunc,
		"lower":           stdlib.LowerFunc,
		"merge":           stdlib.MergeFunc,
		"regex":           stdlib.RegexFunc,
		"setintersection": stdlib.SetIntersectionFunc,
		"split":           stdlib.SplitFunc,
		"trimspace":       stdlib.TrimSpaceFunc,
		"values":          stdlib.ValuesFunc,
		"tonumber":        stdlib.MakeToFunc(cty.Number),
		"tostring":        stdlib.MakeToFunc(cty.String),
		"toset":           stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"try":             tryfunc.TryFunc,
		"can":             tryfunc.CanFunc,

		// Terraform's length also counts a string's characters (stdlib's StrlenFunc)
		// and an object's attributes; stdlib's LengthFunc takes only collections/tuples.
		"length": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType}},
			Type:   function.StaticReturnType(cty.Number),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				switch ty := args[0].Type(); {
				case ty == cty.String:
					return stdlib.Strlen(args[0])
				case ty.IsObjectType():
					return args[0].Length(), nil
				}
				return stdlib.Length(args[0])
			},
		}),
		// Terraform's replace takes a "/.../" substring as a regular expression; stdlib
		// has the two cases as ReplaceFunc and RegexReplaceFunc.
		"replace": stringFunc(cty.String, func(a []cty.Value) (cty.Value, error) {
			if sub := a[1].AsString(); len(sub) > 1 && sub[0] == '/' && sub[len(sub)-1] == '/' {
				return stdlib.RegexReplace(a[0], cty.StringVal(sub[1:len(sub)-1]), a[2])
			}
			return stdlib.Replace(a[0], a[1], a[2])
		}, "str", "substr", "replace"),

		// Not in stdlib: Terraform's own collection function.
		"alltrue": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
			Type:   function.StaticReturnType(cty.Bool),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				for it := args[0].ElementIterator(); it.Next(); {
					if _, v := it.Element(); v.IsNull() || v.False() {
						return cty.False, nil
					}
				}
				return cty.True, nil
			},
		}),
		// Not in stdlib: Terraform's own string functions.
		"startswith": stringFunc(cty.Bool, func(a []cty.Value) (cty.Value, error) {
			return cty.BoolVal(strings.HasPrefix(a[0].AsString(), a[1].AsString())), nil
		}, "str", "prefix"),
		"endswith": stringFunc(cty.Bool, func(a []cty.Value) (cty.Value, error) {
			return cty.BoolVal(strings.HasSuffix(a[0].AsString(), a[1].AsString())), nil
		}, "str", "suffix"),
		// Not in stdlib: Terraform's own encoding function.
		"base64encode": stringFunc(cty.String, func(a []cty.Value) (cty.Value, error) {
			return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(a[0].AsString()))), nil
		}, "str"),
		// Not in stdlib: Terraform's yamldecode is go-cty-yaml's, not a dependency of
		// this module; yaml.v3 through JSON gives the same values for the rules file.
		"yamldecode": stringFunc(cty.DynamicPseudoType, func(a []cty.Value) (cty.Value, error) {
			var doc any
			if err := yaml.Unmarshal([]byte(a[0].AsString()), &doc); err != nil {
				return cty.NilVal, err
			}
			b, err := json.Marshal(doc)
			if err != nil {
				return cty.NilVal, err
			}
			ty, err := ctyjson.ImpliedType(b)
			if err != nil {
				return cty.NilVal, err
			}
			return ctyjson.Unmarshal(b, ty)
		}, "src"),
		// Not in stdlib (it has no file system functions): Terraform's own.
		"file": stringFunc(cty.String, func(a []cty.Value) (cty.Value, error) {
			b, err := os.ReadFile(a[0].AsString())
			return cty.StringVal(string(b)), err
		}, "path"),
		"fileexists": stringFunc(cty.Bool, func(a []cty.Value) (cty.Value, error) {
			st, err := os.Stat(a[0].AsString())
			return cty.BoolVal(err == nil && st.Mode().IsRegular()), nil
		}, "path"),
		"fileset": stringFunc(cty.Set(cty.String), func(a []cty.Value) (cty.Value, error) {
			dir := a[0].AsString()
			matches, err := filepath.Glob(filepath.Join(dir, a[1].AsString()))
			if err != nil || len(matches) == 0 {
				return cty.SetValEmpty(cty.String), err
			}
			var vals []cty.Value
			for _, m := range matches {
				rel, _ := filepath.Rel(dir, m)
				vals = append(vals, cty.StringVal(filepath.ToSlash(rel)))
			}
			return cty.SetVal(vals), nil
		}, "path", "pattern"),
	}
}

// stringFunc is a function of the named string parameters returning ret.
func stringFunc(ret cty.Type, impl func(args []cty.Value) (cty.Value, error), params ...string) function.Function {
	spec := &function.Spec{
		Type: function.StaticReturnType(ret),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) { return impl(args) },
	}
	for _, p := range params {
		spec.Params = append(spec.Params, function.Parameter{Name: p, Type: cty.String})
	}
	return function.New(spec)
}
