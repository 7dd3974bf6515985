// Package fakeelasticache is a stateful fake of the part of Amazon ElastiCache's
// API that manages users and user groups (CreateUser, DescribeUsers, ModifyUser,
// DeleteUser, DescribeUserGroups, ModifyUserGroup), on 127.0.0.1, for the
// operator's ElastiCache backend of the Redis service. It speaks the AWS query
// protocol as the service does: form-encoded POSTs, XML answers, errors as
// <ErrorResponse> with the service's codes and statuses (UserAlreadyExists 400,
// UserNotFound 404, UserGroupNotFound 404, InvalidUserGroupState 400,
// InvalidUserState 400, UserQuotaExceeded 400, InvalidParameterValue 400,
// Throttling 400 on demand, InvalidClientTokenId 403 for another access key).
// Changes take a while, as on AWS: a user is "modifying" (the API documents
// active, modifying and deleting), a user group "modifying" with its pending
// changes, until Settle more Describe calls have seen it; a user group that is
// modifying refuses another change.
package fakeelasticache

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/plattr/plattr/internal/fakehttp"
)

// Limits of ElastiCache, as documented.
const (
	MaxUsersPerGroup   = 100
	MaxUsersPerAccount = 1000
	MinPasswordLen     = 16
	MaxPasswordLen     = 128
)

// User is a user as the fake keeps it.
type User struct {
	UserID, UserName, Engine, AccessString, Status string
	Passwords                                      []string
	pending                                        int // describes until active
}

// Group is a user group as the fake keeps it.
type Group struct {
	ID, Engine, Status string
	UserIDs            []string
	toAdd, toRemove    []string
	pending            int
}

// Server is the fake.
type Server struct {
	fakehttp.Base
	// AccessKeyID is the only access key whose requests are answered.
	AccessKeyID string
	// Settle is how many Describe calls see a change pending before it is done.
	Settle int

	users     map[string]*User
	groups    map[string]*Group
	throttles int
}

// New starts a fake accepting requests signed with accessKeyID, holding the
// user groups given (empty, active).
func New(accessKeyID string, groups ...string) *Server {
	s := &Server{AccessKeyID: accessKeyID, Settle: 1, users: map[string]*User{}, groups: map[string]*Group{}}
	for _, g := range groups {
		s.groups[g] = &Group{ID: g, Engine: "valkey", Status: "active"}
	}
	s.Start(s.serve)
	return s
}

// Throttle makes the next n requests answer Throttling, as a busy API does.
func (s *Server) Throttle(n int) {
	s.Lock()
	defer s.Unlock()
	s.throttles += n
}

// User is a copy of a user, and whether it exists.
func (s *Server) User(id string) (User, bool) {
	s.Lock()
	defer s.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	c := *u
	c.Passwords = slices.Clone(u.Passwords)
	return c, true
}

// Authenticates is the cache's AUTH for a user of a user group: whether
// password is one of the user's passwords (ElastiCache applies ModifyUser's
// passwords at once here).
func (s *Server) Authenticates(userName, password string) bool {
	s.Lock()
	defer s.Unlock()
	for _, u := range s.users {
		if u.UserName == userName && password != "" && slices.Contains(u.Passwords, password) {
			for _, g := range s.groups {
				if slices.Contains(g.UserIDs, u.UserID) {
					return true
				}
			}
		}
	}
	return false
}

// GroupUsers lists a group's users (pending changes not applied), sorted.
func (s *Server) GroupUsers(id string) []string {
	s.Lock()
	defer s.Unlock()
	return slices.Sorted(slices.Values(s.groups[id].UserIDs))
}

// SetAccessString changes a user behind the operator's back (drift).
func (s *Server) SetAccessString(id, access string) {
	s.Lock()
	defer s.Unlock()
	s.users[id].AccessString = access
}

// AddUsers adds users that exist only to fill a group (the quota's tests).
func (s *Server) AddUsers(group string, n int) {
	s.Lock()
	defer s.Unlock()
	for i := range n {
		id := fmt.Sprintf("filler-%d", i)
		s.users[id] = &User{UserID: id, UserName: id, Engine: "valkey", AccessString: "off", Status: "active"}
		s.groups[group].UserIDs = append(s.groups[group].UserIDs, id)
	}
}

var (
	credential = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)
	userID     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !s.Enter(r, true) {
		return
	}
	defer s.Unlock()
	if m := credential.FindStringSubmatch(r.Header.Get("Authorization")); m == nil || m[1] != s.AccessKeyID {
		writeError(w, http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		writeError(w, http.StatusBadRequest, "MalformedQueryString", "expected a form-encoded POST")
		return
	}
	if s.throttles > 0 {
		s.throttles--
		writeError(w, http.StatusBadRequest, "Throttling", "Rate exceeded")
		return
	}
	if status, ok := s.NextFault(); ok {
		writeError(w, status, "InternalFailure", "injected fault")
		return
	}
	f := r.PostForm
	action := f.Get("Action")
	var result any
	var err *apiError
	switch action {
	case "CreateUser":
		result, err = s.createUser(f.Get("UserId"), f.Get("UserName"), f.Get("Engine"), f.Get("AccessString"), members(f, "Passwords"))
	case "DescribeUsers":
		result, err = s.describeUsers(f.Get("UserId"))
	case "ModifyUser":
		result, err = s.modifyUser(f.Get("UserId"), f.Get("AccessString"), members(f, "Passwords"))
	case "DeleteUser":
		result, err = s.deleteUser(f.Get("UserId"))
	case "DescribeUserGroups":
		result, err = s.describeUserGroups(f.Get("UserGroupId"))
	case "ModifyUserGroup":
		result, err = s.modifyUserGroup(f.Get("UserGroupId"), members(f, "UserIdsToAdd"), members(f, "UserIdsToRemove"))
	default:
		err = &apiError{http.StatusBadRequest, "InvalidAction", "The action " + action + " is not valid for this web service."}
	}
	if err != nil {
		writeError(w, err.status, err.code, err.msg)
		return
	}
	writeXML(w, action, result)
}

type apiError struct {
	status    int
	code, msg string
}

func invalid(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameterValue", msg}
}

// members reads a query-protocol list: name.member.1, name.member.2, …
func members(f map[string][]string, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := f[name+".member."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

func (s *Server) createUser(id, name, engine, access string, passwords []string) (any, *apiError) {
	switch {
	case !userID.MatchString(id) || strings.HasSuffix(id, "-") || strings.Contains(id, "--"):
		return nil, invalid("UserId must begin with a letter, contain only letters, digits and '-', not end with '-' nor hold '--'.")
	case name == "":
		return nil, invalid("UserName is required.")
	case engine != "redis" && engine != "valkey":
		return nil, invalid("Engine must be redis or valkey.")
	case access == "":
		return nil, invalid("AccessString is required.")
	}
	if err := checkPasswords(passwords); err != nil {
		return nil, err
	}
	id = strings.ToLower(id) // "stored as a lowercase string"
	if _, ok := s.users[id]; ok {
		return nil, &apiError{http.StatusBadRequest, "UserAlreadyExists", "User " + id + " already exists."}
	}
	for _, u := range s.users {
		if u.UserName == name {
			return nil, &apiError{http.StatusBadRequest, "DuplicateUserName", "A user with the user name " + name + " already exists."}
		}
	}
	if len(s.users) >= MaxUsersPerAccount {
		return nil, &apiError{http.StatusBadRequest, "UserQuotaExceeded", "The quota of users per account has been reached."}
	}
	u := &User{UserID: id, UserName: name, Engine: engine, AccessString: access, Passwords: passwords, Status: "modifying", pending: s.Settle}
	s.users[id] = u
	return s.userXML(u), nil
}

func checkPasswords(passwords []string) *apiError {
	if len(passwords) == 0 || len(passwords) > 2 {
		return invalid("A user has one or two passwords.")
	}
	for _, p := range passwords {
		if len(p) < MinPasswordLen || len(p) > MaxPasswordLen {
			return invalid(fmt.Sprintf("Passwords must be between %d and %d characters.", MinPasswordLen, MaxPasswordLen))
		}
	}
	return nil
}

func (s *Server) user(id string) (*User, *apiError) {
	u, ok := s.users[strings.ToLower(id)]
	if !ok {
		return nil, &apiError{http.StatusNotFound, "UserNotFound", "User " + id + " not found."}
	}
	return u, nil
}

func (s *Server) describeUsers(id string) (any, *apiError) {
	var list []*User
	if id != "" {
		u, err := s.user(id)
		if err != nil {
			return nil, err
		}
		list = []*User{u}
	} else {
		for _, u := range s.users {
			list = append(list, u)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].UserID < list[j].UserID })
	}
	out := struct {
		Users []userXML `xml:"Users>member"`
	}{}
	for _, u := range list {
		s.settleUser(u)
		out.Users = append(out.Users, s.userXML(u))
	}
	return out, nil
}

func (s *Server) settleUser(u *User) {
	if u.pending > 0 {
		u.pending--
		return
	}
	u.Status = "active"
}

func (s *Server) modifyUser(id, access string, passwords []string) (any, *apiError) {
	u, err := s.user(id)
	if err != nil {
		return nil, err
	}
	if u.Status != "active" {
		return nil, &apiError{http.StatusBadRequest, "InvalidUserState", "User " + u.UserID + " is not in active state."}
	}
	if passwords != nil {
		if err := checkPasswords(passwords); err != nil {
			return nil, err
		}
		u.Passwords = passwords
	}
	if access != "" {
		u.AccessString = access
	}
	u.Status, u.pending = "modifying", s.Settle
	return s.userXML(u), nil
}

func (s *Server) deleteUser(id string) (any, *apiError) {
	u, err := s.user(id)
	if err != nil {
		return nil, err
	}
	for _, g := range s.groups {
		if slices.Contains(g.UserIDs, u.UserID) || slices.Contains(g.toAdd, u.UserID) {
			return nil, &apiError{http.StatusBadRequest, "InvalidUserState", "User " + u.UserID + " belongs to user group " + g.ID + "."}
		}
	}
	delete(s.users, u.UserID)
	u.Status = "deleting"
	return s.userXML(u), nil
}

func (s *Server) group(id string) (*Group, *apiError) {
	g, ok := s.groups[id]
	if !ok {
		return nil, &apiError{http.StatusNotFound, "UserGroupNotFound", "User group " + id + " not found."}
	}
	return g, nil
}

func (s *Server) describeUserGroups(id string) (any, *apiError) {
	g, err := s.group(id)
	if err != nil {
		return nil, err
	}
	if g.Status == "modifying" {
		if g.pending > 0 {
			g.pending--
		} else {
			for _, a := range g.toAdd {
				if !slices.Contains(g.UserIDs, a) {
					g.UserIDs = append(g.UserIDs, a)
				}
			}
			g.UserIDs = slices.DeleteFunc(g.UserIDs, func(u string) bool { return slices.Contains(g.toRemove, u) })
			g.toAdd, g.toRemove, g.Status = nil, nil, "active"
		}
	}
	return struct {
		Groups []groupXML `xml:"UserGroups>member"`
	}{[]groupXML{s.groupXML(g)}}, nil
}

func (s *Server) modifyUserGroup(id string, add, remove []string) (any, *apiError) {
	g, err := s.group(id)
	if err != nil {
		return nil, err
	}
	if g.Status != "active" {
		return nil, &apiError{http.StatusBadRequest, "InvalidUserGroupState", "User group " + id + " is not in active state."}
	}
	for _, a := range add {
		u, err := s.user(a)
		if err != nil {
			return nil, err
		}
		if u.Status != "active" {
			return nil, &apiError{http.StatusBadRequest, "InvalidUserState", "User " + a + " is not in active state."}
		}
	}
	if len(g.UserIDs)+len(add) > MaxUsersPerGroup {
		return nil, invalid(fmt.Sprintf("A user group can hold at most %d users.", MaxUsersPerGroup))
	}
	for _, r := range remove {
		if !slices.Contains(g.UserIDs, r) {
			return nil, invalid("User " + r + " is not in user group " + id + ".")
		}
	}
	g.toAdd, g.toRemove, g.Status, g.pending = add, remove, "modifying", s.Settle
	return s.groupXML(g), nil
}

type userXML struct {
	ARN            string   `xml:"ARN"`
	AccessString   string   `xml:"AccessString"`
	PasswordCount  int      `xml:"Authentication>PasswordCount"`
	AuthType       string   `xml:"Authentication>Type"`
	Engine         string   `xml:"Engine"`
	Status         string   `xml:"Status"`
	UserGroupIDs   []string `xml:"UserGroupIds>member"`
	UserID         string   `xml:"UserId"`
	UserName       string   `xml:"UserName"`
	MinimumVersion string   `xml:"MinimumEngineVersion"`
}

func (s *Server) userXML(u *User) userXML {
	var groups []string
	for _, g := range s.groups {
		if slices.Contains(g.UserIDs, u.UserID) {
			groups = append(groups, g.ID)
		}
	}
	sort.Strings(groups)
	return userXML{ARN: "arn:aws:elasticache:eu-west-1:123456789012:user:" + u.UserID, AccessString: u.AccessString,
		PasswordCount: len(u.Passwords), AuthType: "password", Engine: u.Engine, Status: u.Status,
		UserGroupIDs: groups, UserID: u.UserID, UserName: u.UserName, MinimumVersion: "6.0"}
}

type groupXML struct {
	ARN      string   `xml:"ARN"`
	Engine   string   `xml:"Engine"`
	ToAdd    []string `xml:"PendingChanges>UserIdsToAdd>member,omitempty"`
	ToRemove []string `xml:"PendingChanges>UserIdsToRemove>member,omitempty"`
	Status   string   `xml:"Status"`
	ID       string   `xml:"UserGroupId"`
	UserIDs  []string `xml:"UserIds>member"`
}

func (s *Server) groupXML(g *Group) groupXML {
	return groupXML{ARN: "arn:aws:elasticache:eu-west-1:123456789012:usergroup:" + g.ID, Engine: g.Engine,
		ToAdd: g.toAdd, ToRemove: g.toRemove, Status: g.Status, ID: g.ID, UserIDs: slices.Clone(g.UserIDs)}
}

const namespace = "http://elasticache.amazonaws.com/doc/2015-02-02/"

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeXML answers <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…
func writeXML(w http.ResponseWriter, action string, result any) {
	var b strings.Builder
	enc := xml.NewEncoder(&b)
	if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
		writeError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", requestID())
	fmt.Fprintf(w, `<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`,
		action, namespace, b.String(), requestID(), action)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(msg))
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	kind := "Sender"
	if status >= 500 {
		kind = "Receiver"
	}
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		namespace, kind, code, b.String(), requestID())
}
