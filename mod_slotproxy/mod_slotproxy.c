/*
 * mod_slotproxy.c -- the module record: directives and hooks only.  The
 * work is in slotproxy_conf.c, slotproxy_handler.c and slotproxy_daemon.c.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_request.h"

#include "slotproxy.h"

static const command_rec slotproxy_cmds[] = {
    AP_INIT_TAKE_ARGV("SlotProxyBackend", slotproxy_cmd_backend, NULL,
                      RSRC_CONF, "a backend: NAME tcp://HOST:PORT | "
                      "unix:/PATH [links=N]"),
    AP_INIT_TAKE2("SlotProxyPass", slotproxy_cmd_pass, NULL, RSRC_CONF,
                  "URL prefix and the backend that serves it"),
    AP_INIT_TAKE1("SlotProxySecretFile", slotproxy_cmd_secret, NULL,
                  RSRC_CONF, "file with the secret shared with execd"),
    AP_INIT_TAKE1("SlotProxySlotSize", slotproxy_cmd_slot_size, NULL,
                  RSRC_CONF, "bytes per direction of each slot (default 128k)"),
    AP_INIT_TAKE1("SlotProxyTLSCAFile", slotproxy_cmd_tls_file, "a",
                  RSRC_CONF, "CAs that sign the certificates of tls:// "
                  "backends (default: the system's)"),
    AP_INIT_TAKE1("SlotProxyTLSCertificateFile", slotproxy_cmd_tls_file, "c",
                  RSRC_CONF, "client certificate for tls:// backends that "
                  "ask for one"),
    AP_INIT_TAKE1("SlotProxyTLSKeyFile", slotproxy_cmd_tls_file, "k",
                  RSRC_CONF, "private key of that certificate"),
    AP_INIT_TAKE1("SlotProxyTimeout", slotproxy_cmd_timeout, NULL, RSRC_CONF,
                  "seconds to wait for the backend (60)"),
    AP_INIT_FLAG("SlotProxyBatchScheduling", slotproxy_cmd_batch_sched, NULL,
                 RSRC_CONF, "On (default): the proxy child runs in "
                 "SCHED_BATCH, so its wake-ups do not preempt the threads "
                 "that wake it"),
    { NULL }
};

static void slotproxy_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_check_config(slotproxy_check_config, NULL, NULL,
                         APR_HOOK_MIDDLE);
    ap_hook_post_config(slotproxy_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(slotproxy_translate, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(slotproxy_map_to_storage, NULL, NULL,
                           APR_HOOK_FIRST);
    ap_hook_handler(slotproxy_handler, NULL, NULL, APR_HOOK_FIRST);
}

AP_DECLARE_MODULE(slotproxy) = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    slotproxy_create_server_conf,
    slotproxy_merge_server_conf,
    slotproxy_cmds,
    slotproxy_register_hooks,
    AP_MODULE_FLAG_NONE
};
