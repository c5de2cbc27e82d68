package main

import (
	"html/template"
	"log"
	"net/http"
)

// The pages, inline so that the example is one directory with no assets.
const layout = `<!doctype html><html><head><meta charset="utf-8"><title>sessiongate demo</title>
<style>body{font-family:sans-serif;max-width:44em;margin:2em auto}td,th{padding:.2em .6em;text-align:left}</style>
</head><body>{{template "body" .}}</body></html>`

var (
	homePage = page(`{{define "body"}}<h1>sessiongate demo</h1>
{{if .Ended}}<p>Logged out everywhere: {{.Ended}} sessions ended.</p>{{end}}
{{if .User}}<p>Logged in as <b>{{.User}}</b>. <a href="/private">Your page</a></p>
{{else}}<p>Not logged in. <a href="/login">Log in</a> (any user name and password: this is a demo).</p>{{end}}
{{end}}`)

	loginPage = page(`{{define "body"}}<h1>Log in</h1>
{{with .Error}}<p style="color:red">{{.}}</p>{{end}}
<form method="post" action="/login">
<p><label>User <input name="user" autofocus></label></p>
<p><label>Password <input name="password" type="password"></label> (anything: this is a demo)</p>
<p><button>Log in</button></p></form>{{end}}`)

	privatePage = page(`{{define "body"}}<h1>Hello, {{.User}}</h1>
<p>Session created {{.Info.Created.Format "15:04:05"}}; time left {{.Info.TTL}}
{{- if .Info.IdleTimeout}} (every request restarts its {{.Info.IdleTimeout}} idle timeout){{end}}.</p>
<h2>Your devices</h2>
<table><tr><th>since</th><th>last seen</th><th>address</th><th>browser</th></tr>
{{range .Devices}}<tr><td>{{.Created.Format "15:04:05"}}</td><td>{{.LastSeen.Format "15:04:05"}}</td><td>{{.IP}}</td><td>{{.UA}}</td></tr>
{{end}}</table>
<form method="post" action="/rotate"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button>Rotate my session token</button> (what a site does on a privilege change)</form>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button>Log out</button></form>
<form method="post" action="/logout-everywhere"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button>Log out everywhere</button></form>{{end}}`)
)

func page(body string) *template.Template {
	return template.Must(template.Must(template.New("layout").Parse(layout)).Parse(body))
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // pages carry CSRF tokens and device lists
	if err := t.Execute(w, data); err != nil {
		log.Printf("webapp: render: %v", err)
	}
}
