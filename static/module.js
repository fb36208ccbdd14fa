// The app page, as plain AMD so no frontend toolchain is needed: Grafana's loader provides
// @grafana/data (AppPlugin), @grafana/runtime (the signed-in user) and react. The backend
// does the work (resources `checks` and `checks/run`); this page shows it.
define(['@grafana/data', '@grafana/runtime', 'react'], function (data, runtime, React) {
  'use strict';
  var h = React.createElement;
  var REFRESH_MS = 10000;

  // Only a hint for the button: the backend checks the role itself on every call.
  function canRunChecks() {
    var user = runtime.config && runtime.config.bootData && runtime.config.bootData.user;
    return !!user && (user.orgRole === 'Admin' || user.orgRole === 'Editor');
  }

  function call(base, method, path) {
    return fetch(base + path, {
      method: method,
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    }).then(function (response) {
      return response.json().then(function (body) {
        return { status: response.status, body: body };
      });
    });
  }

  // state: { loading, error, checks: [...], running }; pure, so it can be tested.
  function renderChecks(state, showRunButton, onRun) {
    var children = [h('h2', { key: 'title' }, 'Service checks')];
    if (showRunButton) {
      children.push(
        h('button', { key: 'run', className: 'btn btn-primary', disabled: !!state.running, onClick: onRun },
          state.running ? 'Running…' : 'Run now')
      );
    }
    if (state.error) {
      children.push(h('p', { key: 'error', role: 'alert' }, state.error));
    } else if (state.loading) {
      children.push(h('p', { key: 'loading' }, 'Loading…'));
    } else if (state.checks.length === 0) {
      children.push(h('p', { key: 'empty' }, 'No targets are configured. An admin adds them to the app settings (jsonData.targets).'));
    } else {
      var rows = state.checks.map(function (check) {
        var detail = check.error || check.banner || '';
        return h('tr', { key: check.name },
          h('td', null, check.name),
          h('td', null, check.address || '(reported)'),
          h('td', null, check.status),
          h('td', null, check.latencyMs == null ? '' : check.latencyMs.toFixed(1) + ' ms'),
          h('td', null, detail),
          h('td', null, check.checkedAt || ''));
      });
      children.push(h('table', { key: 'table', className: 'filter-table' },
        h('thead', null, h('tr', null,
          ['Name', 'Address', 'Status', 'Latency', 'Detail', 'Checked'].map(function (title) {
            return h('th', { key: title }, title);
          }))),
        h('tbody', null, rows)));
    }
    return h('div', null, children);
  }

  function ChecksPage(props) {
    var base = '/api/plugins/' + props.meta.id + '/resources/';
    var initial = { loading: true, checks: [] };
    var pair = React.useState(initial);
    var state = pair[0];
    var setState = pair[1];

    function show(result) {
      if (result.status === 200) {
        setState({ loading: false, checks: result.body.checks, running: false });
      } else {
        setState({ loading: false, checks: [], running: false, error: result.body.error || 'HTTP ' + result.status });
      }
    }
    function failed(error) {
      setState({ loading: false, checks: [], running: false, error: String(error) });
    }

    React.useEffect(function () {
      function refresh() { call(base, 'GET', 'checks').then(show, failed); }
      refresh();
      var timer = setInterval(refresh, REFRESH_MS);
      return function () { clearInterval(timer); };
    }, [base]);

    function runNow() {
      setState(Object.assign({}, state, { running: true }));
      call(base, 'POST', 'checks/run').then(show, failed);
    }
    return renderChecks(state, canRunChecks(), runNow);
  }

  return {
    plugin: new data.AppPlugin().setRootPage(ChecksPage),
    renderChecks: renderChecks,
  };
});
