//! `template.yaml` is the deployment contract. These tests hold it to the workspace: the function
//! crates under `functions/`, the `cargo lambda watch` router in `Cargo.toml`, the configuration
//! names in `files_core::config`, and the environments in `samconfig.toml`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::PathBuf;

use files_core::config::{Settings, LOCAL_ONLY_VARIABLES, RUNTIME_PROVIDED_VARIABLES, VARIABLES};
use serde_yaml::{Mapping, Value};

const SERVERLESS_FUNCTION: &str = "AWS::Serverless::Function";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The template, parsed as YAML: CloudFormation's short forms (`!Ref`, `!Sub`, ...) become
/// `Value::Tagged`.
struct Template {
    doc: Value,
}

/// A function resource of the template and the crate its `CodeUri` points at.
struct Function<'a> {
    logical_id: String,
    crate_name: String,
    resource: &'a Value,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    method: String,
    path: String,
    function: String,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} -> {}", self.method, self.path, self.function)
    }
}

impl Template {
    fn load() -> Self {
        let doc = serde_yaml::from_str(&read("template.yaml")).expect("template.yaml is YAML");
        Self { doc }
    }

    fn section(&self, name: &str) -> &Mapping {
        self.doc.get(name).and_then(Value::as_mapping).unwrap_or_else(|| panic!("template has no {name} section"))
    }

    fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.section("Resources").iter().map(|(id, r)| (id.as_str().expect("resource ids are strings"), r))
    }

    fn resource(&self, logical_id: &str) -> Option<&Value> {
        self.section("Resources").get(logical_id)
    }

    fn resource_type(&self, logical_id: &str) -> Option<&str> {
        self.resource(logical_id)?.get("Type")?.as_str()
    }

    fn functions(&self) -> Vec<Function<'_>> {
        self.resources()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(SERVERLESS_FUNCTION))
            .map(|(id, resource)| {
                let code_uri = resource
                    .get("Properties")
                    .and_then(|p| p.get("CodeUri"))
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("{id} has no CodeUri folder"));
                let crate_name = code_uri
                    .trim_end_matches('/')
                    .strip_prefix("functions/")
                    .filter(|name| !name.is_empty() && !name.contains('/'))
                    .unwrap_or_else(|| panic!("{id}: CodeUri `{code_uri}` is not a folder functions/<name>"));
                Function { logical_id: id.to_owned(), crate_name: crate_name.to_owned(), resource }
            })
            .collect()
    }

    /// Crates the template deliberately does not deploy (`Metadata.NotDeployed`), with reasons.
    fn not_deployed(&self) -> BTreeMap<String, String> {
        self.section("Metadata")
            .get("NotDeployed")
            .and_then(Value::as_mapping)
            .expect("Metadata.NotDeployed lists the crates that are not deployed")
            .iter()
            .map(|(name, why)| {
                let name = name.as_str().expect("crate names are strings").to_owned();
                let why = why.as_str().unwrap_or_default().trim().to_owned();
                assert!(!why.is_empty(), "Metadata.NotDeployed.{name} must say why");
                (name, why)
            })
            .collect()
    }

    /// The HTTP API routes, bound to the crate of the function that serves them.
    fn routes(&self) -> BTreeSet<Route> {
        let mut routes = BTreeSet::new();
        for function in self.functions() {
            for (_, event) in events(function.resource) {
                if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                    continue;
                }
                let props = event.get("Properties").expect("an HttpApi event has Properties");
                let api = props.get("ApiId").and_then(ref_target);
                assert!(
                    api.is_some_and(|api| self.resource_type(api) == Some("AWS::Serverless::HttpApi")),
                    "{}: an HttpApi event must name the template's HttpApi with ApiId: !Ref",
                    function.logical_id
                );
                let field = |name: &str| {
                    props
                        .get(name)
                        .and_then(Value::as_str)
                        .unwrap_or_else(|| panic!("{}: HttpApi event without {name}", function.logical_id))
                };
                routes.insert(Route {
                    method: field("Method").to_ascii_uppercase(),
                    path: field("Path").to_owned(),
                    function: function.crate_name.clone(),
                });
            }
        }
        routes
    }

    fn globals_environment(&self) -> BTreeMap<String, Value> {
        self.doc.get("Globals").and_then(|g| g.get("Function")).map(environment_of).unwrap_or_default()
    }

    /// What a function runs with: the Globals environment overlaid with its own.
    fn environment(&self, function: &Function<'_>) -> BTreeMap<String, Value> {
        let mut env = self.globals_environment();
        if let Some(props) = function.resource.get("Properties") {
            env.extend(environment_of(props));
        }
        env
    }

    fn parameter_defaults(&self) -> BTreeMap<String, Option<String>> {
        self.section("Parameters")
            .iter()
            .map(|(name, p)| (name.as_str().unwrap().to_owned(), p.get("Default").map(scalar)))
            .collect()
    }
}

fn events(resource: &Value) -> Vec<(String, &Value)> {
    resource
        .get("Properties")
        .and_then(|p| p.get("Events"))
        .and_then(Value::as_mapping)
        .map(|m| m.iter().map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), v)).collect())
        .unwrap_or_default()
}

fn environment_of(properties: &Value) -> BTreeMap<String, Value> {
    properties
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter().map(|(k, v)| (k.as_str().expect("variable names are strings").to_owned(), v.clone())).collect()
        })
        .unwrap_or_default()
}

/// A CloudFormation intrinsic in either spelling: `!Ref X` or `{Ref: X}`, `!GetAtt` or
/// `{Fn::GetAtt: ..}`. Returns the function name without `!` / `Fn::` and its argument.
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => Some((tagged.tag.to_string().trim_start_matches('!').to_owned(), &tagged.value)),
        Value::Mapping(m) if m.len() == 1 => {
            let (key, arg) = m.iter().next()?;
            let key = key.as_str()?;
            (key == "Ref" || key.starts_with("Fn::")).then(|| (key.trim_start_matches("Fn::").to_owned(), arg))
        }
        _ => None,
    }
}

fn ref_target(value: &Value) -> Option<&str> {
    match intrinsic(value)? {
        (name, Value::String(target)) if name == "Ref" => Some(target.as_str()),
        _ => None,
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// Every `(name, argument)` intrinsic anywhere in `value`.
fn all_intrinsics<'a>(value: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    if let Some((name, arg)) = intrinsic(value) {
        out.push((name, arg));
        all_intrinsics(arg, out);
        return;
    }
    match value {
        Value::Mapping(m) => m.values().for_each(|v| all_intrinsics(v, out)),
        Value::Sequence(s) => s.iter().for_each(|v| all_intrinsics(v, out)),
        _ => {}
    }
}

/// Crates under functions/, checked to follow folder = package = binary.
fn function_crates() -> BTreeSet<String> {
    let dir = workspace_root().join("functions");
    let mut crates = BTreeSet::new();
    for entry in fs::read_dir(&dir).expect("functions/ exists") {
        let path = entry.expect("readable entry").path();
        let manifest = path.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let folder = path.file_name().and_then(|n| n.to_str()).expect("UTF-8 folder name").to_owned();
        let manifest: toml::Value = fs::read_to_string(&manifest).unwrap().parse().expect("a TOML manifest");
        let package = manifest.get("package").and_then(|p| p.get("name")).and_then(toml::Value::as_str);
        assert_eq!(package, Some(folder.as_str()), "functions/{folder}: the package must be named like its folder");
        if let Some(bins) = manifest.get("bin").and_then(toml::Value::as_array) {
            let names: Vec<_> = bins.iter().filter_map(|b| b.get("name").and_then(toml::Value::as_str)).collect();
            assert!(names.contains(&folder.as_str()), "functions/{folder}: the binary must be named like its folder");
        }
        crates.insert(folder);
    }
    crates
}

/// The routes `cargo lambda watch` serves: `[workspace.metadata.lambda.watch.router]`.
fn router_routes() -> BTreeSet<Route> {
    let manifest: toml::Value = read("Cargo.toml").parse().expect("Cargo.toml is TOML");
    let router = ["workspace", "metadata", "lambda", "watch", "router"]
        .iter()
        .try_fold(&manifest, |v, key| v.get(key))
        .and_then(toml::Value::as_table)
        .expect("Cargo.toml has [workspace.metadata.lambda.watch.router]");
    let mut routes = BTreeSet::new();
    for (path, targets) in router {
        for target in targets.as_array().unwrap_or_else(|| panic!("router `{path}`: expected a list")) {
            let field = |name: &str| {
                target
                    .get(name)
                    .and_then(toml::Value::as_str)
                    .unwrap_or_else(|| panic!("router `{path}`: an entry without {name}"))
            };
            routes.insert(Route {
                method: field("method").to_ascii_uppercase(),
                path: path.clone(),
                function: field("function").to_owned(),
            });
        }
    }
    routes
}

fn listed<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// A function whose `main` builds the application state, the indexer or a pool uses the database.
fn uses_database(crate_name: &str) -> bool {
    let main = read(&format!("functions/{crate_name}/src/main.rs"));
    ["AppState::", "from_settings", "build_pool"].iter().any(|builds| main.contains(builds))
}

#[test]
fn the_template_the_router_and_the_function_crates_agree() {
    let template = Template::load();
    let crates = function_crates();
    let functions = template.functions();
    let deployed: BTreeSet<String> = functions.iter().map(|f| f.crate_name.clone()).collect();
    let not_deployed: BTreeSet<String> = template.not_deployed().into_keys().collect();

    let duplicated: Vec<_> = functions
        .iter()
        .filter(|f| functions.iter().filter(|g| g.crate_name == f.crate_name).count() > 1)
        .map(|f| &f.logical_id)
        .collect();
    assert!(duplicated.is_empty(), "several template functions build the same crate: {}", listed(duplicated));

    let missing_crates: Vec<_> = deployed.union(&not_deployed).filter(|n| !crates.contains(*n)).collect();
    assert!(missing_crates.is_empty(), "the template names crates that do not exist: {}", listed(missing_crates));

    let undecided: Vec<_> = crates.iter().filter(|c| !deployed.contains(*c) && !not_deployed.contains(*c)).collect();
    assert!(
        undecided.is_empty(),
        "function crates neither in template.yaml nor in its Metadata.NotDeployed: {}",
        listed(undecided)
    );
    let both: Vec<_> = deployed.intersection(&not_deployed).collect();
    assert!(both.is_empty(), "crates both deployed and listed as not deployed: {}", listed(both));

    let not_rust: Vec<_> = functions
        .iter()
        .filter(|f| {
            f.resource.get("Metadata").and_then(|m| m.get("BuildMethod")).and_then(Value::as_str)
                != Some("rust-cargolambda")
        })
        .map(|f| &f.logical_id)
        .collect();
    assert!(not_rust.is_empty(), "functions without Metadata.BuildMethod rust-cargolambda: {}", listed(not_rust));

    let router = router_routes();
    let unknown_in_router: Vec<_> = router.iter().filter(|r| !crates.contains(&r.function)).collect();
    assert!(unknown_in_router.is_empty(), "router routes to crates that do not exist: {}", listed(unknown_in_router));

    // API Gateway spells a catch-all `{name+}`; cargo lambda's `{*name}` may only serve local functions.
    let deployed_catch_alls: Vec<_> =
        router.iter().filter(|r| r.path.contains("{*") && !not_deployed.contains(&r.function)).collect();
    assert!(
        deployed_catch_alls.is_empty(),
        "catch-all router routes of deployed functions: {}",
        listed(deployed_catch_alls)
    );

    let template_routes = template.routes();
    let router_of_deployed: BTreeSet<Route> =
        router.iter().filter(|r| deployed.contains(&r.function)).cloned().collect();
    let only_in_template: Vec<_> = template_routes.difference(&router_of_deployed).collect();
    assert!(
        only_in_template.is_empty(),
        "template routes that cargo lambda watch does not serve: {}",
        listed(only_in_template)
    );
    let only_in_router: Vec<_> = router_of_deployed.difference(&template_routes).collect();
    assert!(only_in_router.is_empty(), "router routes missing from template.yaml: {}", listed(only_in_router));

    let foreign_buckets: Vec<String> = functions
        .iter()
        .flat_map(|f| events(f.resource).into_iter().map(move |(name, event)| (f, name, event)))
        .filter(|(_, _, event)| event.get("Type").and_then(Value::as_str) == Some("S3"))
        .filter(|(_, _, event)| {
            let bucket = event.get("Properties").and_then(|p| p.get("Bucket")).and_then(ref_target);
            bucket.and_then(|b| template.resource_type(b)) != Some("AWS::S3::Bucket")
        })
        .map(|(f, name, _)| format!("{}.{name}", f.logical_id))
        .collect();
    assert!(foreign_buckets.is_empty(), "S3 events not bound to the template's bucket: {}", listed(foreign_buckets));

    let untriggered: Vec<_> =
        functions.iter().filter(|f| events(f.resource).is_empty()).map(|f| &f.logical_id).collect();
    assert!(untriggered.is_empty(), "template functions that nothing invokes: {}", listed(untriggered));
}

#[test]
fn every_variable_the_code_reads_in_the_cloud_is_set_and_no_other() {
    let template = Template::load();
    let cloud: BTreeSet<&str> = VARIABLES
        .iter()
        .filter(|v| !LOCAL_ONLY_VARIABLES.contains(v) && !RUNTIME_PROVIDED_VARIABLES.contains(v))
        .copied()
        .collect();

    let mut set = BTreeSet::new();
    set.extend(template.globals_environment().into_keys());
    let functions = template.functions();
    for function in &functions {
        set.extend(template.environment(function).into_keys());
    }

    let unknown: Vec<_> = set.iter().filter(|v| !VARIABLES.contains(&v.as_str())).collect();
    assert!(unknown.is_empty(), "template variables the code never reads: {}", listed(unknown));
    let local: Vec<_> = set.iter().filter(|v| LOCAL_ONLY_VARIABLES.contains(&v.as_str())).collect();
    assert!(local.is_empty(), "local-only variables set in the template: {}", listed(local));
    let runtime: Vec<_> = set.iter().filter(|v| RUNTIME_PROVIDED_VARIABLES.contains(&v.as_str())).collect();
    assert!(runtime.is_empty(), "variables Lambda provides, set in the template: {}", listed(runtime));
    let missing: Vec<_> = cloud.iter().filter(|v| !set.contains(**v)).collect();
    assert!(missing.is_empty(), "variables the code reads in the cloud, set nowhere: {}", listed(missing));

    for function in &functions {
        let env = template.environment(function);
        let mut needed = vec!["FILE_STORAGE_BACKEND", "AWS_S3_BUCKET_NAME", "AWS_S3_REGION_NAME", "AUTH_MODE"];
        if uses_database(&function.crate_name) {
            needed.push("DB_SECRET_ARN");
        }
        let lacking: Vec<_> = needed.iter().filter(|v| !env.contains_key(**v)).collect();
        assert!(lacking.is_empty(), "{} runs without {}", function.crate_name, listed(lacking));
        for (name, expected) in [("FILE_STORAGE_BACKEND", "s3"), ("AUTH_MODE", "apigateway")] {
            assert_eq!(env.get(name).map(scalar).as_deref(), Some(expected), "{}: {name}", function.crate_name);
        }
    }
}

/// `parameter_overrides` of one samconfig.toml environment.
fn samconfig_overrides(environment: &str) -> (BTreeMap<String, String>, String) {
    let config: toml::Value = read("samconfig.toml").parse().expect("samconfig.toml is TOML");
    let deploy = config
        .get(environment)
        .and_then(|e| e.get("deploy"))
        .and_then(|d| d.get("parameters"))
        .unwrap_or_else(|| panic!("samconfig.toml has no [{environment}.deploy.parameters]"));
    let region = deploy.get("region").and_then(toml::Value::as_str).expect("a region").to_owned();
    let overrides = deploy.get("parameter_overrides").and_then(toml::Value::as_str).unwrap_or_default();
    let map = overrides
        .split_whitespace()
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("{environment}: `{pair}` is not Name=value"));
            (k.to_owned(), v.trim_matches('"').to_owned())
        })
        .collect();
    (map, region)
}

#[test]
fn every_samconfig_environment_sets_every_parameter_without_a_default_and_only_known_ones() {
    let template = Template::load();
    let parameters = template.parameter_defaults();
    for environment in ["default", "staging", "production"] {
        let config: toml::Value = read("samconfig.toml").parse().unwrap();
        let deploy = &config[environment]["deploy"]["parameters"];
        assert_eq!(deploy.get("capabilities").and_then(toml::Value::as_str), Some("CAPABILITY_IAM"), "{environment}");
        assert_eq!(deploy.get("resolve_s3").and_then(toml::Value::as_bool), Some(true), "{environment}");
        assert!(deploy.get("stack_name").is_some(), "{environment}: no stack_name");

        let (overrides, _) = samconfig_overrides(environment);
        let unknown: Vec<_> = overrides.keys().filter(|k| !parameters.contains_key(*k)).collect();
        assert!(unknown.is_empty(), "{environment} overrides unknown parameters: {}", listed(unknown));
        let unset: Vec<_> =
            parameters.iter().filter(|(k, d)| d.is_none() && !overrides.contains_key(*k)).map(|(k, _)| k).collect();
        assert!(unset.is_empty(), "{environment} leaves required parameters unset: {}", listed(unset));
    }
}

/// Evaluates the intrinsics an environment value may use, for a deployment of samconfig's
/// `default` environment into a sample account and stack.
struct Deployment<'a> {
    template: &'a Template,
    parameters: BTreeMap<String, String>,
    region: String,
}

impl<'a> Deployment<'a> {
    const ACCOUNT: &'static str = "123456789012";
    const STACK_NAME: &'static str = "files-dev";
    const STACK_UUID: &'static str = "1c2fa620-982a-11e3-aff7-50e2416294e0";

    fn new(template: &'a Template) -> Self {
        let (overrides, region) = samconfig_overrides("default");
        let parameters = template
            .parameter_defaults()
            .into_iter()
            .map(|(name, default)| {
                let value = overrides.get(&name).cloned().or(default).unwrap_or_default();
                (name, value)
            })
            .collect();
        Self { template, parameters, region }
    }

    fn lookup(&self, name: &str) -> Value {
        let text = match name {
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => Self::ACCOUNT.to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            "AWS::StackName" => Self::STACK_NAME.to_owned(),
            "AWS::StackId" => format!(
                "arn:aws:cloudformation:{}:{}:stack/{}/{}",
                self.region,
                Self::ACCOUNT,
                Self::STACK_NAME,
                Self::STACK_UUID
            ),
            _ if self.parameters.contains_key(name) => self.parameters[name].clone(),
            _ => match self.template.resource_type(name) {
                // `Ref` of a bucket is its name.
                Some("AWS::S3::Bucket") => {
                    let bucket_name = self.template.resource(name).and_then(|r| r.get("Properties")?.get("BucketName"));
                    return self.eval(bucket_name.unwrap_or_else(|| panic!("{name} has no BucketName to resolve")));
                }
                // `Ref` of a queue is its URL; CloudFormation names it after the stack.
                Some("AWS::SQS::Queue") => {
                    format!(
                        "https://sqs.{}.amazonaws.com/{}/{}-{name}-1A2B3C4D5E6F",
                        self.region,
                        Self::ACCOUNT,
                        Self::STACK_NAME
                    )
                }
                _ => panic!("this test cannot resolve `Ref {name}`"),
            },
        };
        Value::String(text)
    }

    fn text(&self, value: &Value) -> String {
        scalar(&self.eval(value))
    }

    fn eval(&self, value: &Value) -> Value {
        let Some((name, arg)) = intrinsic(value) else {
            return match value {
                Value::Sequence(items) => Value::Sequence(items.iter().map(|v| self.eval(v)).collect()),
                other => other.clone(),
            };
        };
        let args = arg.as_sequence().map(Vec::as_slice).unwrap_or_default();
        match (name.as_str(), args) {
            ("Ref", _) => self.lookup(arg.as_str().expect("Ref takes a name")),
            ("Join", [separator, items]) => {
                let items = self.eval(items);
                let parts: Vec<String> = items.as_sequence().expect("Join takes a list").iter().map(scalar).collect();
                Value::String(parts.join(&scalar(separator)))
            }
            ("Select", [index, items]) => {
                let index: usize = self.text(index).parse().expect("Select takes a number");
                self.eval(items).as_sequence().and_then(|list| list.get(index).cloned()).expect("Select in range")
            }
            ("Split", [separator, source]) => Value::Sequence(
                self.text(source).split(scalar(separator).as_str()).map(|p| Value::String(p.to_owned())).collect(),
            ),
            ("Sub", _) if arg.is_string() => {
                let mut text = scalar(arg);
                for name in sub_names(&text) {
                    text = text.replace(&format!("${{{name}}}"), &scalar(&self.lookup(&name)));
                }
                Value::String(text)
            }
            _ => panic!("this test cannot evaluate {name} {arg:?}"),
        }
    }
}

#[test]
fn every_function_starts_with_the_environment_the_template_gives_it() {
    let template = Template::load();
    let deployment = Deployment::new(&template);
    let mut buckets = BTreeMap::new();
    for function in template.functions() {
        let env: HashMap<String, String> = template
            .environment(&function)
            .iter()
            .map(|(name, value)| (name.clone(), deployment.text(value)))
            .collect();
        let settings =
            Settings::from_map(&env).unwrap_or_else(|e| panic!("{} would not start: {e}", function.crate_name));
        // As Lambda runs it: its memory in AWS_LAMBDA_FUNCTION_MEMORY_SIZE, which the extractions
        // it runs at once must fit in.
        let memory = memory_size(&template, &function);
        let mut with_memory = env.clone();
        with_memory.insert("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(), memory.to_string());
        let search = Settings::from_map(&with_memory).unwrap().search;
        let main = read(&format!("functions/{}/src/main.rs", function.crate_name));
        if main.contains("run_or_extract") {
            let at_once = if function.crate_name == "s3-indexer" { settings.search.indexer_concurrency } else { 1 };
            if let Err(e) = search.check_extraction_memory(at_once) {
                panic!("{} ({memory} MB) would not start: {e}", function.crate_name);
            }
        }
        buckets.insert(function.crate_name.clone(), env.get("AWS_S3_BUCKET_NAME").cloned().unwrap_or_default());
    }
    let names: BTreeSet<&String> = buckets.values().collect();
    assert_eq!(names.len(), 1, "the functions name different buckets: {buckets:?}");
}

#[test]
fn every_reference_in_the_template_names_something_it_defines() {
    let template = Template::load();
    let mut known: BTreeSet<String> =
        template.section("Parameters").keys().filter_map(|k| k.as_str()).map(str::to_owned).collect();
    known.extend(template.resources().map(|(id, _)| id.to_owned()));
    let conditions: BTreeSet<&str> = template
        .doc
        .get("Conditions")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.as_str())
        .collect();

    let mut found = Vec::new();
    all_intrinsics(&template.doc, &mut found);
    let mut dangling = BTreeSet::new();
    for (name, arg) in found {
        let targets: Vec<String> = match (name.as_str(), arg) {
            ("Ref", Value::String(t)) => vec![t.clone()],
            ("GetAtt", Value::String(t)) => vec![t.split('.').next().unwrap_or_default().to_owned()],
            ("GetAtt", Value::Sequence(s)) => {
                s.first().and_then(Value::as_str).map(str::to_owned).into_iter().collect()
            }
            ("Sub", Value::String(s)) => sub_names(s),
            ("Sub", Value::Sequence(s)) => {
                let local: BTreeSet<&str> = s
                    .get(1)
                    .and_then(Value::as_mapping)
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, _)| k.as_str())
                    .collect();
                s.first()
                    .and_then(Value::as_str)
                    .map(sub_names)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| !local.contains(n.as_str()))
                    .collect()
            }
            ("If", Value::Sequence(s)) => {
                let condition = s.first().and_then(Value::as_str).unwrap_or_default();
                if !conditions.contains(condition) {
                    dangling.insert(format!("condition {condition}"));
                }
                vec![]
            }
            _ => vec![],
        };
        for target in targets {
            if !target.starts_with("AWS::") && !known.contains(&target) {
                dangling.insert(target);
            }
        }
    }
    for (id, resource) in template.resources() {
        if let Some(condition) = resource.get("Condition").and_then(Value::as_str) {
            if !conditions.contains(condition) {
                dangling.insert(format!("condition {condition} of {id}"));
            }
        }
    }
    assert!(dangling.is_empty(), "the template refers to things it does not define: {}", listed(dangling));
}

/// The names a `!Sub` string interpolates: `${Name}` and `${Name.Attribute}`, not `${!Literal}`.
fn sub_names(s: &str) -> Vec<String> {
    s.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(inner, _)| inner)
        .filter(|inner| !inner.starts_with('!'))
        .map(|inner| inner.split('.').next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn every_function_has_its_own_role_and_a_log_group_with_retention() {
    let template = Template::load();
    let mut roles = BTreeMap::new();
    let mut groups = BTreeMap::new();
    for function in template.functions() {
        let props = function.resource.get("Properties").expect("Properties");
        let role = props
            .get("Role")
            .and_then(intrinsic)
            .and_then(|(name, arg)| (name == "GetAtt").then_some(arg))
            .and_then(|arg| match arg {
                Value::String(s) => s.strip_suffix(".Arn").map(str::to_owned),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{}: Role must be !GetAtt <role>.Arn", function.logical_id));
        assert_eq!(template.resource_type(&role), Some("AWS::IAM::Role"), "{}: Role", function.logical_id);

        let group = props
            .get("LoggingConfig")
            .and_then(|l| l.get("LogGroup"))
            .and_then(ref_target)
            .unwrap_or_else(|| panic!("{}: LoggingConfig.LogGroup must be !Ref <log group>", function.logical_id));
        let group_resource = template.resource(group).expect("the log group exists");
        assert_eq!(group_resource.get("Type").and_then(Value::as_str), Some("AWS::Logs::LogGroup"));
        assert!(
            group_resource.get("Properties").and_then(|p| p.get("RetentionInDays")).is_some(),
            "{group} keeps logs forever: set RetentionInDays"
        );

        if let Some(other) = roles.insert(role.clone(), function.logical_id.clone()) {
            panic!("{other} and {} share the role {role}", function.logical_id);
        }
        if let Some(other) = groups.insert(group.to_owned(), function.logical_id.clone()) {
            panic!("{other} and {} share the log group {group}", function.logical_id);
        }
    }
}

/// The resources `value` refers to through `Ref`, `GetAtt` or `Sub`.
fn referenced_resources(template: &Template, value: &Value) -> BTreeSet<String> {
    let mut found = Vec::new();
    all_intrinsics(value, &mut found);
    let mut targets = BTreeSet::new();
    for (name, arg) in found {
        let names = match (name.as_str(), arg) {
            ("Ref", Value::String(t)) => vec![t.clone()],
            ("GetAtt", Value::String(t)) => vec![t.split('.').next().unwrap_or_default().to_owned()],
            ("GetAtt", Value::Sequence(s)) => {
                s.first().and_then(Value::as_str).map(str::to_owned).into_iter().collect()
            }
            ("Sub", Value::String(s)) => sub_names(s),
            ("Sub", Value::Sequence(s)) => s.first().and_then(Value::as_str).map(sub_names).unwrap_or_default(),
            _ => vec![],
        };
        targets.extend(names.into_iter().filter(|n| template.resource(n).is_some()));
    }
    targets
}

/// A function's MemorySize: its own, else the Globals', else Lambda's default of 128.
fn memory_size(template: &Template, function: &Function<'_>) -> u64 {
    let own = function.resource.get("Properties").and_then(|p| p.get("MemorySize"));
    let global = template.doc.get("Globals").and_then(|g| g.get("Function")).and_then(|f| f.get("MemorySize"));
    own.or(global).and_then(Value::as_u64).unwrap_or(128)
}

/// A function's properties as SAM merges its Globals into them: maps merge key by key, lists
/// concatenate, and anything else the function sets wins.
fn sam_merge(global: &Value, local: &Value) -> Value {
    match (global, local) {
        (Value::Mapping(g), Value::Mapping(l)) => {
            let mut merged = g.clone();
            for (key, value) in l {
                let combined = g.get(key).map_or_else(|| value.clone(), |gv| sam_merge(gv, value));
                merged.insert(key.clone(), combined);
            }
            Value::Mapping(merged)
        }
        (Value::Sequence(g), Value::Sequence(l)) => Value::Sequence(g.iter().chain(l).cloned().collect()),
        (_, Value::Null) => global.clone(),
        _ => local.clone(),
    }
}

#[test]
fn the_template_has_no_circular_dependency_once_sam_wires_the_events() {
    // Neither cfn-lint nor `sam validate --lint` sees the edges SAM adds: a function gets the
    // Globals' references, an S3 event makes the bucket depend on its function, an HttpApi event
    // makes the API depend on it (an SQS event adds a mapping that depends on both sides). A function that refers to a bucket it is subscribed to is a
    // cycle CloudFormation refuses at deploy time.
    let template = Template::load();
    let globals = template.doc.get("Globals").and_then(|g| g.get("Function")).cloned().unwrap_or(Value::Null);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (id, resource) in template.resources() {
        let mut own = resource.clone();
        let is_function = resource.get("Type").and_then(Value::as_str) == Some(SERVERLESS_FUNCTION);
        if is_function {
            let props = own.get("Properties").cloned().unwrap_or(Value::Null);
            let mut merged = sam_merge(&globals, &props);
            if let Some(map) = merged.as_mapping_mut() {
                map.remove("Events");
            }
            own = merged;
        }
        let mut targets = referenced_resources(&template, &own);
        if let Some(depends) = resource.get("DependsOn") {
            let names = depends.as_sequence().cloned().unwrap_or_else(|| vec![depends.clone()]);
            targets.extend(names.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        if is_function {
            for (_, event) in events(resource) {
                // An SQS event is a mapping of its own that depends on the queue and the
                // function; the queue depends on nothing of the function's.
                if event.get("Type").and_then(Value::as_str) == Some("SQS") {
                    continue;
                }
                let props = event.get("Properties").cloned().unwrap_or(Value::Null);
                for trigger in referenced_resources(&template, &props) {
                    edges.entry(trigger).or_default().insert(id.to_owned());
                }
            }
        }
        edges.entry(id.to_owned()).or_default().extend(targets);
    }

    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }

    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            panic!("circular dependency: {}", cycle.join(" -> "));
        }
    }
}

/// The names in a CORS list, lower-cased.
fn cors_names(value: &Value) -> BTreeSet<String> {
    value.as_sequence().into_iter().flatten().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect()
}

#[test]
fn browsers_may_read_the_headers_the_api_and_the_bucket_send_and_abort_uploads() {
    let template = Template::load();
    let bucket = template.resource("FilesBucket").expect("the files bucket");
    let rules = bucket["Properties"]["CorsConfiguration"]["CorsRules"].as_sequence().expect("bucket CORS rules");
    let rule = rules.first().expect("one rule");
    let methods = cors_names(&rule["AllowedMethods"]);
    for method in ["get", "head", "put", "post", "delete"] {
        assert!(methods.contains(method), "the bucket allows {method}: {methods:?}");
    }
    let exposed = cors_names(&rule["ExposedHeaders"]);
    for header in ["etag", "content-disposition", "location", "x-amz-checksum-sha256"] {
        assert!(exposed.contains(header), "the bucket exposes {header}: {exposed:?}");
    }
    let api = template.resource("HttpApi").expect("the HTTP API");
    let exposed = cors_names(&api["Properties"]["CorsConfiguration"]["ExposeHeaders"]);
    for header in ["retry-after", "location", "etag", "content-disposition"] {
        assert!(exposed.contains(header), "the HTTP API exposes {header}: {exposed:?}");
    }
}
