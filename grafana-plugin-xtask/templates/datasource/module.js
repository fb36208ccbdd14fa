// The data source's frontend, as plain AMD so no frontend toolchain is needed: Grafana's
// loader provides @grafana/data (DataSourcePlugin), @grafana/runtime (DataSourceWithBackend,
// which sends queries to /api/ds/query and so to the backend's QueryData) and react. The
// backend does the work; these editors only write what it reads: jsonData {path, unit},
// secureJsonData {apiKey}, and each query's {queryText, constant}.
define(['@grafana/data', '@grafana/runtime', 'react'], function (data, runtime, React) {
  'use strict';
  var h = React.createElement;
  var DEFAULT_QUERY = { constant: 6.5 };

  class DataSource extends runtime.DataSourceWithBackend {
    getDefaultQuery() {
      return DEFAULT_QUERY;
    }
  }

  function field(label, input) {
    return h('div', { className: 'gf-form', key: label },
      h('label', { className: 'gf-form-label width-10' }, label), input);
  }

  // The data source's settings page: what CheckHealth ("Save & test") checks.
  function ConfigEditor(props) {
    var options = props.options;
    var jsonData = options.jsonData || {};
    var configured = !!(options.secureJsonFields && options.secureJsonFields.apiKey);
    function setJson(key) {
      return function (event) {
        var next = Object.assign({}, jsonData);
        next[key] = event.target.value;
        props.onOptionsChange(Object.assign({}, options, { jsonData: next }));
      };
    }
    function setKey(event) {
      props.onOptionsChange(Object.assign({}, options, {
        secureJsonData: { apiKey: event.target.value },
      }));
    }
    function resetKey() {
      props.onOptionsChange(Object.assign({}, options, {
        secureJsonFields: Object.assign({}, options.secureJsonFields, { apiKey: false }),
        secureJsonData: Object.assign({}, options.secureJsonData, { apiKey: '' }),
      }));
    }
    return h('div', null,
      field('Path', h('input', { className: 'gf-form-input', value: jsonData.path || '', onChange: setJson('path') })),
      field('Unit', h('input', { className: 'gf-form-input', value: jsonData.unit || '', placeholder: 'e.g. celsius', onChange: setJson('unit') })),
      field('API key', configured
        ? h('button', { className: 'btn btn-secondary', onClick: resetKey }, 'Reset (configured)')
        : h('input', { className: 'gf-form-input', type: 'password', value: '', onChange: setKey })));
  }

  // One query: a display name and the constant the backend answers.
  function QueryEditor(props) {
    var query = props.query;
    function set(key, parse) {
      return function (event) {
        var next = Object.assign({}, query);
        next[key] = parse(event.target.value);
        props.onChange(next);
      };
    }
    return h('div', { className: 'gf-form-inline' },
      field('Query text', h('input', { className: 'gf-form-input', value: query.queryText || '', onChange: set('queryText', String), onBlur: props.onRunQuery })),
      field('Constant', h('input', { className: 'gf-form-input', type: 'number', step: 0.1, value: query.constant == null ? DEFAULT_QUERY.constant : query.constant, onChange: set('constant', parseFloat), onBlur: props.onRunQuery })));
  }

  return {
    plugin: new data.DataSourcePlugin(DataSource).setConfigEditor(ConfigEditor).setQueryEditor(QueryEditor),
    ConfigEditor: ConfigEditor,
    QueryEditor: QueryEditor,
  };
});
