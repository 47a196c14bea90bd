// The SDK side's redirect URI page: sends the code to the opener's tab and closes.
const params = new URLSearchParams(location.search);
const channel = new BroadcastChannel('sdk-bench');
channel.postMessage({ code: params.get('code'), state: params.get('state'), error: params.get('error') });
channel.close();
window.close();
